"""Reconstruction quality on held-out synthetic identities, beside baselines.

The synthetic test identities were never seen in training; each is rendered
from several cameras with ground-truth pose, depth and head mask, in two
sets (``data.held_out.SETS``): "clean" (every view under the input view's
expression, light and background, so a perfect 3D reconstruction scores
perfectly) and "wild" (each view with its own, as photos come). For every
identity, view 0 is the input: Q encodes it (optionally refined by
test-time optimisation) and the codes are rendered at the true camera of
every view. Each render is scored against that view's truth:

* images: PSNR and SSIM inside the true head mask (``*_head``) and over the
  full frame (``*_full``, which also scores the background, a different
  random one per view in the wild set);
* the same for two baselines on the same pairs: ``copy`` (the input photo
  itself as every view: no 3D at all) and ``mean`` (the mean training
  image: no input at all), and the model's gain over each;
* novel views again by the yaw between them and the input
  (``YAW_BUCKETS``);
* geometry: depth errors inside the head, raw and after the best single
  offset along the camera axis (``metrics.depth_errors``), and the mean
  opacity inside the head and on the background; the head's opacity again
  on its interior and on its rim (``interior_blocks``), which tells a soft
  head from a soft or shrunk silhouette;
* pose: the angle between Q's estimated and the true input viewpoint;
* identity: cosine between the input photo and each render in E2 (which
  refinement optimises, so it can flatter) and in a judge network that
  neither training nor refinement ever sees (``identity.judge_dir``), with
  the judge's ceiling, its cosine on the true views;
* the mesh (``evaluate`` with ``mesh_resolution``): the exported mesh's
  depth seen from every camera against the true depth, the share of the
  head it covers, and the share of its surface facing up or down beside
  the true head's.

Names are ``<set>/<metric>_<novel|input>``; ``*_novel`` averages the views
other than the input, ``*_input`` the input view itself (rendered at its
true camera, so pose errors are measured separately).
"""

import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import errors
from jaxface import export
from jaxface import generator
from jaxface import identity
from jaxface import mesh as mesh_lib
from jaxface import metrics
from jaxface import reconstruct
from jaxface import sampling
from jaxface import sharding
from jaxface import structs
from jaxface.data import head_model
from jaxface.data import held_out as held_out_lib
from jaxface.data import input_pipeline

# Prior samples scored for multi-view identity consistency.
NUM_RANDOM_CODES = 16
INPUT_VIEW = held_out_lib.INPUT_VIEW
# Yaw between a novel view and the input, degrees: [low, high).
YAW_BUCKETS = ((0, 15), (15, 30), (30, 360))
# Scored for every rendered view; the predictions compared are the model's
# and, for the image metrics, the baselines'.
IMAGE_METRICS = ("psnr_head", "ssim_head", "psnr_full", "ssim_full")
BASELINES = ("copy", "mean")
VIEW_METRICS = (IMAGE_METRICS
                + tuple(f"{m}_{b}" for b in BASELINES for m in IMAGE_METRICS)
                + ("depth_abs_rel_head", "depth_abs_rel_head_offset",
                   "depth_abs_rel", "depth_scale_invariant", "opacity_head",
                   "opacity_head_interior", "opacity_head_rim",
                   "opacity_background", "identity_cosine", "judge_cosine",
                   "judge_cosine_gt"))
# Training images averaged for the "mean" baseline.
MEAN_IMAGE_EXAMPLES = 1024


@flax.struct.dataclass
class RandomViews:
  """Prior codes and the two cameras they are compared between.

  Attributes:
    latents: ``structs.Latents``, each [k, dim].
    camera_a: ``structs.Camera`` of batch k, at one end of the yaw prior.
    camera_b: ``structs.Camera`` of batch k, at the other end.
  """

  latents: structs.Latents
  camera_a: structs.Camera
  camera_b: structs.Camera


def check_evaluable(config, networks: structs.Networks):
  """Raises unless ``networks`` and ``config`` can be evaluated here.

  Raises:
    errors.CheckpointError: the run has no Q (trained without the identity
      branch), so it cannot reconstruct images.
    errors.ConfigError: the data set has no 3D ground truth.
  """
  if networks.q_params is None:
    raise errors.CheckpointError(
        "this run was trained without the identity branch (Q), so it cannot "
        "reconstruct images to evaluate")
  if config.data.name != "synthetic_faces":
    raise errors.ConfigError(
        f"evaluation needs ground-truth pose and depth: data.name must be "
        f"synthetic_faces, got {config.data.name!r}")


def random_views(config, seed: int = 0,
                 num_codes: int = NUM_RANDOM_CODES) -> RandomViews:
  """``num_codes`` prior codes (fixed by ``seed``) and the two end cameras.

  The cameras are the two ends of the prior's yaw range at its middle pitch
  (``camera.orbit(2)``): the widest turn the generator was trained on.
  """
  latents = generator.sample_latents(jax.random.key(seed), num_codes,
                                     config.field)
  ends = camera_lib.orbit(2, config.camera)
  pick = lambda i: jax.tree.map(
      lambda a: jnp.broadcast_to(a[i], (num_codes,) + a.shape[1:]), ends)
  return RandomViews(latents, pick(0), pick(1))


def mean_training_image(data_config,
                        limit: int = MEAN_IMAGE_EXAMPLES) -> np.ndarray:
  """float32 [s, s, 3] in [0, 255]: the mean of the first training images."""
  source = input_pipeline.make_source(data_config, "train")
  count = min(len(source), limit)
  total = np.zeros_like(np.asarray(source[0]["image"], np.float64))
  for i in range(count):
    total += np.asarray(source[i]["image"], np.float64)
  return (total / count).astype(np.float32)


def render(g_graphdef, g_params, latents, camera) -> structs.GeneratorOutput:
  """The generator in evaluation mode: the renders scored."""
  return nnx.merge(g_graphdef, g_params)(latents, camera)


def downsample_depth(depth, mask, size: int):
  """Ground-truth depth at the generator's depth resolution.

  The generator's depth is one ray per feature pixel ([b, h, h]) while the
  data's is per image pixel ([b, s, s], s = k h, both through pixel
  centres of the same camera). Each feature pixel covers a k x k block: it
  is scored only if the whole block is head, and compared with the block's
  mean depth. Blocks on the silhouette are left out because the generator's
  expected depth there mixes the head with the far plane while the data's
  averages head pixels only, so they would measure the resolution, not the
  shape.

  Args:
    depth: [b, s, s] camera-axis depth.
    mask: [b, s, s] bool head pixels.
    size: h, which must divide s.

  Returns:
    (depth [b, h, h], mask [b, h, h] bool of all-head blocks).
  """
  b, s = depth.shape[0], depth.shape[-1]
  if s % size:
    raise errors.ConfigError(
        f"depth of size {s} cannot be pooled to the generator's {size}")
  k = s // size
  blocks = depth.reshape(b, size, k, size, k)
  inside = mask.reshape(b, size, k, size, k)
  full = jnp.all(inside, axis=(2, 4))
  mean = jnp.sum(jnp.where(inside, blocks, 0.0), axis=(2, 4)) / (k * k)
  return mean, full


def _background_blocks(mask, size: int):
  """[b, h, h] bool: feature pixels whose block holds no head pixel."""
  b, s = mask.shape[0], mask.shape[-1]
  k = s // size
  return ~jnp.any(mask.reshape(b, size, k, size, k), axis=(2, 4))


def interior_blocks(head_blocks):
  """[b, h, h] bool: head blocks whose four neighbours are head blocks too.

  The other head blocks are the head's rim. Rays there cross the head along
  short chords, so a soft head loses opacity there first, and a silhouette
  half a block too small loses it there only.
  """
  padded = jnp.pad(head_blocks, ((0, 0), (1, 1), (1, 1)))
  return (head_blocks & padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1]
          & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:])


def _embedder(graphdef, params, n):
  """images [n, s, s, 3] in [0, 1] -> [n, dim], or NaN rows without a net."""
  if params is None:
    return lambda images: jnp.full((n, 1), jnp.nan)
  return functools.partial(identity.embed, graphdef, params)


def _view_metrics(g_graphdef, g_params, e2_graphdef, e2_params,
                  judge_graphdef, judge_params, estimate: structs.Estimate,
                  held_out: structs.HeldOut, mean_image, *, head_size: float,
                  render_fn):
  """Every per-view metric of one batch of reconstructions, [n, v] each.

  Args:
    g_graphdef: generator graph definition.
    g_params: generator weights to render with.
    e2_graphdef, e2_params: E2, or None.
    judge_graphdef, judge_params: the judge, or None.
    estimate: the reconstruction of each identity's input view, batch n.
    held_out: the ground truth, n identities x v views.
    mean_image: [s, s, 3] the mean training image, in [0, 255].
    head_size: depth error scale for ``abs_rel_head``.
    render_fn: ``render`` or a stand-in with its signature (tests).

  Returns:
    Dict of ``VIEW_METRICS`` [n, v] (axis 1 as ``held_out``),
    ``pose_error``, ``yaw_error``, ``pitch_error`` [n] degrees and
    ``render``, uint8 [n, v, s, s, 3], the pictures scored. Images are
    scored as the 8-bit pictures they are saved as, on the same integer
    grid as the data, so a perfect render scores exactly.
  """
  n = held_out.images.shape[0]
  e2 = _embedder(e2_graphdef, e2_params, n)
  judge = _embedder(judge_graphdef, judge_params, n)
  input8 = held_out.images[:, INPUT_VIEW].astype(jnp.float32)
  e2_input = e2(input8 / 255.0)
  judge_input = judge(input8 / 255.0)
  mean8 = jnp.broadcast_to(jnp.round(mean_image), input8.shape)

  def one_view(view):
    """Every identity rendered at its own true camera of one view."""
    gt, depth, mask, yaw, pitch, radius, fov = view
    cam = camera_lib.make_camera(yaw, pitch, radius, fov)
    out = render_fn(g_graphdef, g_params, estimate.latents, cam)
    rendered = jnp.clip(out.images, 0.0, 1.0)
    gt8 = gt.astype(jnp.float32)
    results = {}
    for suffix, image in (("", jnp.round(rendered * 255.0)),
                          ("_copy", input8), ("_mean", mean8)):
      results[f"psnr_head{suffix}"] = metrics.psnr_masked(image, gt8, mask,
                                                          255.0)
      results[f"ssim_head{suffix}"] = metrics.ssim_masked(image, gt8, mask,
                                                          255.0)
      results[f"psnr_full{suffix}"] = metrics.psnr(image, gt8, 255.0)
      results[f"ssim_full{suffix}"] = metrics.ssim(image, gt8, 255.0)
    size = out.depth.shape[-1]
    gt_depth, head_blocks = downsample_depth(depth, mask, size)
    # The depth of the visible surface, not GIRAFFE's expected depth, which
    # counts any transparent remainder of a ray at its far end.
    for name, value in metrics.depth_errors(
        out.surface_depth, gt_depth, head_blocks, head_size).items():
      results[f"depth_{name}"] = value
    results["opacity_head"] = metrics.masked_mean(out.opacity, head_blocks)
    interior = interior_blocks(head_blocks)
    results["opacity_head_interior"] = metrics.masked_mean(out.opacity,
                                                           interior)
    results["opacity_head_rim"] = metrics.masked_mean(
        out.opacity, head_blocks & ~interior)
    results["opacity_background"] = metrics.masked_mean(
        out.opacity, _background_blocks(mask, size))
    results["identity_cosine"] = metrics.cosine(e2(rendered), e2_input)
    results["judge_cosine"] = metrics.cosine(judge(rendered), judge_input)
    results["judge_cosine_gt"] = metrics.cosine(judge(gt8 / 255.0),
                                                judge_input)
    results["render"] = jnp.round(rendered * 255.0).astype(jnp.uint8)
    return results

  # One view at a time for all identities: the batch (and memory) of a
  # render stays n, whatever the number of views.
  views_first = lambda a: jnp.moveaxis(a, 1, 0)
  per_view = jax.lax.map(one_view, tuple(map(views_first, (
      held_out.images, held_out.depth, held_out.mask, held_out.yaw,
      held_out.pitch, held_out.radius, held_out.fov))))
  results = {k: jnp.moveaxis(v, 0, 1) for k, v in per_view.items()}
  true_yaw = held_out.yaw[:, INPUT_VIEW]
  true_pitch = held_out.pitch[:, INPUT_VIEW]
  results["pose_error"] = metrics.pose_error_degrees(
      estimate.yaw, estimate.pitch, true_yaw, true_pitch)
  results["yaw_error"], results["pitch_error"] = (
      metrics.yaw_pitch_errors_degrees(estimate.yaw, estimate.pitch,
                                       true_yaw, true_pitch))
  return results


def _random_consistency(g_graphdef, g_params, e2_graphdef, e2_params,
                        views: RandomViews, *, render_fn):
  """[k] E2 cosine between two renders of each prior code (NaN without E2)."""
  if e2_params is None:
    return jnp.full(views.latents.z_shape.shape[:1], jnp.nan)
  embed = functools.partial(identity.embed, e2_graphdef, e2_params)
  a = render_fn(g_graphdef, g_params, views.latents, views.camera_a).images
  b = render_fn(g_graphdef, g_params, views.latents, views.camera_b).images
  return metrics.cosine(embed(jnp.clip(a, 0.0, 1.0)),
                        embed(jnp.clip(b, 0.0, 1.0)))


_STATIC = ("g_graphdef", "e2_graphdef", "judge_graphdef", "head_size",
           "render_fn")
_view_metrics_jit = jax.jit(_view_metrics, static_argnames=_STATIC)
_random_consistency_jit = jax.jit(
    _random_consistency, static_argnames=("g_graphdef", "e2_graphdef",
                                          "render_fn"))


def head_size(config) -> float:
  """The depth-error scale of ``abs_rel_head``: the object box's side.

  The generator draws the head inside a box of half-size
  ``render.object_scale``; its side, twice that, is the largest head it can
  draw, so ``abs_rel_head`` reads as a fraction of the head's size.
  """
  return 2.0 * float(config.render.object_scale)


def yaw_differences(held_out: structs.HeldOut) -> np.ndarray:
  """[n, v] degrees between each view's yaw and the input view's."""
  yaw = np.asarray(held_out.yaw, np.float64)
  return np.degrees(np.abs(yaw - yaw[:, INPUT_VIEW:INPUT_VIEW + 1]))


def summarize(per_view: dict, yaw_difference, *, refine_steps: int,
              tune_generator: bool = False, prefix: str = "") -> dict:
  """Means of the per-view metrics, with gains, yaw buckets and counts.

  Args:
    per_view: ``_view_metrics``' output (host arrays), n rows.
    yaw_difference: [n, v] degrees from each view to the input.
    refine_steps, tune_generator: recorded in the result.
    prefix: put before every name (e.g. ``"clean/"``).

  Returns:
    Flat dict of floats (and integer counts), in report order. Gains are
    means over the same novel pairs of the model's figure minus the
    baseline's.
  """
  per_image = {}
  novel = lambda name: np.asarray(per_view[name], np.float64)[:, 1:]
  for name in VIEW_METRICS:
    per_image[f"{name}_novel"] = novel(name)
    if not name.endswith(BASELINES):  # a baseline on its own input is moot
      per_image[f"{name}_input"] = np.asarray(per_view[name])[:, 0]
  for baseline in BASELINES:
    for name in ("psnr_head", "ssim_head"):
      per_image[f"{name}_novel_gain_{baseline}"] = (
          novel(name) - novel(f"{name}_{baseline}"))
  yaw = yaw_difference[:, 1:]
  for low, high in YAW_BUCKETS:
    bucket = (yaw >= low) & (yaw < high)
    tag = f"yaw{low}-{high}" if high < 360 else f"yaw{low}+"
    for name in ("psnr_head", "psnr_head_copy", "psnr_head_mean",
                 "ssim_head", "ssim_head_copy"):
      per_image[f"{name}_novel_{tag}"] = np.where(bucket, novel(name),
                                                  np.nan)
    per_image[f"psnr_head_novel_gain_copy_{tag}"] = np.where(
        bucket, novel("psnr_head") - novel("psnr_head_copy"), np.nan)
  for name in ("pose_error", "yaw_error", "pitch_error"):
    per_image[f"{name}_deg"] = per_view[name]
  results = metrics.summarize(per_image)
  ceiling = results["judge_cosine_gt_novel"]
  results["judge_cosine_novel_of_ceiling"] = (
      results["judge_cosine_novel"] / ceiling if ceiling else float("nan"))
  n, v = np.shape(per_view["psnr_head"])
  results.update(num_identities=int(n), num_novel_views=int(v - 1),
                 refine_steps=int(refine_steps),
                 tune_generator=int(tune_generator))
  for low, high in YAW_BUCKETS:
    tag = f"yaw{low}-{high}" if high < 360 else f"yaw{low}+"
    results[f"num_novel_{tag}"] = int(np.sum((yaw >= low) & (yaw < high)))
  return {f"{prefix}{k}": v for k, v in results.items()}


def true_head_mesh(shape_params, expression, resolution: int):
  """(vertices, faces) of a synthetic head: marching cubes of its SDF."""
  half = head_model.BOX_HALF_SIZE
  axis = np.linspace(-half, half, resolution, dtype=np.float32)
  points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1)
  sdf = np.asarray(jax.jit(head_model.sdf)(
      jnp.asarray(points.reshape(-1, 3)), jnp.asarray(shape_params),
      jnp.asarray(expression)))
  # Inside is where the SDF is negative: -sdf is a density, surface at 0.
  return mesh_lib.extract_mesh(-sdf.reshape((resolution,) * 3), 0.0, half)


def mesh_metrics(networks: structs.Networks, config, estimate, held_out, *,
                 resolution: int, g_params=None) -> dict:
  """The exported mesh of each reconstruction, scored per identity.

  ``g_params`` (one generator per identity, from pivotal tuning) replaces
  the run's generator when given.

  Returns:
    Dict of [n] arrays: ``mesh_depth_abs_rel_head`` (the mesh's depth from
    every camera against the true depth, over the true head pixels it
    covers, as a fraction of the head size), ``..._offset`` (after the best
    offset), ``mesh_coverage`` (share of the true head pixels it covers),
    ``mesh_up_down_area`` and ``mesh_up_down_area_gt`` (share of the
    surface facing up or down: the mesh's, the true head's).
  """
  names = ("mesh_depth_abs_rel_head", "mesh_depth_abs_rel_head_offset",
           "mesh_coverage", "mesh_up_down_area", "mesh_up_down_area_gt")
  results = {name: [] for name in names}
  for i in range(held_out.num_identities):
    latents = jax.tree.map(lambda z, i=i: z[i:i + 1], estimate.latents)
    true = true_head_mesh(held_out.shape_params[i],
                          held_out.expression[i, INPUT_VIEW], resolution)
    results["mesh_up_down_area_gt"].append(mesh_lib.up_down_area(*true))
    try:
      vertices, faces, _ = export.face_mesh(
          networks.g_graphdef,
          networks.g_params if g_params is None else g_params[i], latents,
          config, resolution)
    except ValueError:  # no surface: nothing covered
      for name in names[:-1]:
        results[name].append(0.0 if name == "mesh_coverage" else np.nan)
      continue
    cams = camera_lib.make_camera(held_out.yaw[i], held_out.pitch[i],
                                  held_out.radius[i], held_out.fov[i])
    depth = mesh_lib.render_depth(vertices, faces, cams,
                                  held_out.depth.shape[-1])
    mask = np.asarray(held_out.mask[i], bool)
    hit = mask & np.isfinite(depth)
    errors_ = metrics.depth_errors(np.nan_to_num(depth, nan=1.0),
                                   held_out.depth[i], hit, head_size(config))
    # Over all views: the mean of the per-view values, weighted by pixels.
    weight = hit.sum((1, 2))
    for key in ("abs_rel_head", "abs_rel_head_offset"):
      values = np.asarray(errors_[key])
      valid = weight > 0
      results[f"mesh_depth_{key}"].append(
          float(np.sum(values[valid] * weight[valid]) / weight.sum())
          if weight.sum() else np.nan)
    results["mesh_coverage"].append(float(hit.sum() / max(mask.sum(), 1)))
    results["mesh_up_down_area"].append(mesh_lib.up_down_area(vertices,
                                                              faces))
  return {k: np.asarray(v, np.float64) for k, v in results.items()}


# The reconstructions ``evaluate`` can score, in the order they are made:
# Q's estimate, its codes and pose refined, then a generator tuned per
# identity on top.
STAGES = ("encode", "refine", "tune")


def evaluate(config, networks: structs.Networks, *,
             num_identities: int | None = None, refine_steps: int = 0,
             tune_generator: bool = False, seed: int = 0,
             batch_size: int | None = None, sets=tuple(held_out_lib.SETS),
             judge=None, mesh_resolution: int = 0, with_views: bool = False):
  """Reconstruction metrics on the synthetic test identities.

  Each identity's view 0 is encoded by Q (``reconstruct.encode``), then, if
  ``refine_steps > 0``, refined by ``reconstruct.refine`` (codes and pose;
  with ``tune_generator``, then the generator, one copy per identity: pivotal
  tuning, ``reconstruct.tune``); the codes are rendered with the EMA
  generator (or the identity's tuned copy) at the true camera of every view.
  ``batch_size`` identities are encoded, refined and scored per compiled
  call (the last batch is padded); tuning takes one identity per call.

  E2 metrics need the run's E2; judge metrics a ``judge``; without them they
  are NaN.

  Args:
    config: the run's config.
    networks: its networks (trained with the identity branch).
    num_identities: score the first this many test identities (all if None).
    refine_steps: test-time optimisation steps per batch (0: Q only).
    tune_generator: after refining the codes, tune a copy of the generator
      on each input view for ``refine_steps`` more steps.
    seed: seed of the random prior codes.
    batch_size: identities per call; ``config.train.batch_size`` if None.
    sets: the held-out sets to score (``data.held_out.SETS`` keys).
    judge: ``(graphdef, params)`` of the judge network, or None.
    mesh_resolution: score the exported meshes at this grid side (0: no).
    with_views: also return each set's ``views_figure``.

  Returns:
    Flat dict of ``<set>/<metric>`` floats (see the module docstring) and
    ``identity_consistency_random``; with ``with_views``, the pair
    ``(that dict, {set: uint8 figure [h, w, 3]})``.

  Raises:
    errors.CheckpointError: the run has no Q.
    errors.ConfigError: the data set is not ``synthetic_faces``.
  """
  last = final_stage(refine_steps, tune_generator)
  results, figures = evaluate_stages(
      config, networks, stages=(last,), num_identities=num_identities,
      refine_steps=refine_steps, seed=seed, batch_size=batch_size, sets=sets,
      judge=judge, mesh_resolution=mesh_resolution)[last]
  return (results, figures) if with_views else results


def final_stage(refine_steps: int, tune_generator: bool) -> str:
  """The ``STAGES`` entry that ``refine_steps`` and ``tune_generator`` reach.

  Raises:
    errors.ConfigError: tuning without refine steps.
  """
  if tune_generator and refine_steps <= 0:
    raise errors.ConfigError("tuning the generator needs refine steps > 0")
  return "tune" if tune_generator else "refine" if refine_steps else "encode"


def evaluate_stages(config, networks: structs.Networks, *, stages,
                    num_identities: int | None = None, refine_steps: int = 0,
                    seed: int = 0, batch_size: int | None = None,
                    sets=tuple(held_out_lib.SETS), judge=None,
                    mesh_resolution: int = 0) -> dict:
  """``evaluate``'s metrics of several stages from one pass.

  Each stage starts from the one before (the tuned generator from the
  refined codes), so scoring Q's estimate, the refined and the tuned
  reconstructions together costs what the last alone costs, and each scores
  what ``evaluate`` of that stage alone scores. The held-out sets share
  their input views, so each is reconstructed (and tuned) once for all sets.

  Args:
    config, networks, num_identities, seed, batch_size, sets, judge,
      mesh_resolution: as ``evaluate``.
    stages: the ``STAGES`` to score; the last of them is made.
    refine_steps: steps of refinement (and of tuning), > 0 for "refine" and
      "tune".

  Returns:
    {stage: (``evaluate``'s dict, {set: views figure})}.
  """
  check_evaluable(config, networks)
  unknown = set(stages) - set(STAGES)
  if unknown:
    raise errors.ConfigError(f"unknown stages {sorted(unknown)}; "
                             f"choose from {STAGES}")
  last = max(STAGES.index(stage) for stage in stages)
  if last > 0 and refine_steps <= 0:
    raise errors.ConfigError(f"the {STAGES[last]!r} stage needs refine "
                             f"steps > 0")
  judge_graphdef, judge_params = judge or (None, None)
  mirror = reconstruct.mirror_pose(config)
  mean_image = mean_training_image(config.data)
  reference = jax.tree.leaves(networks.g_params)[0]
  judge_params = sharding.replicate_like(judge_params, reference)
  out = {stage: ({}, {}) for stage in stages}

  def score(g_params, estimate, part):
    return _view_metrics_jit(
        networks.g_graphdef, g_params, networks.e2_graphdef,
        networks.e2_params, judge_graphdef, judge_params, estimate, part,
        mean_image, head_size=head_size(config), render_fn=render)

  def take(tree, rows):
    return jax.tree.map(lambda a: np.asarray(a)[rows], tree)

  # The sets share their input views (only the other views differ), so each
  # batch of inputs is reconstructed, and each input tuned, once, keyed by
  # its pixels, and scored on every set.
  made_for, tuned_for = {}, {}

  for held_out_set in sets:
    held_out = held_out_lib.load(config.data, num_identities, held_out_set)
    n = held_out.num_identities
    batch = max(1, min(batch_size or config.train.batch_size, n))
    # Per stage: scored views, estimates and tuned generators, per identity.
    chunks = {stage: [] for stage in stages}
    estimates = {stage: [] for stage in stages}
    tuned = []
    for start in range(0, n, batch):
      # Repeating the last identity pads every batch to one shape (one
      # compile); the copies are dropped below.
      rows = np.minimum(np.arange(start, start + batch), n - 1)
      keep = min(batch, n - start)
      part = sharding.replicate_like(take(held_out, rows), reference)
      inputs = part.images[:, INPUT_VIEW]
      input_pixels = held_out.images[rows, INPUT_VIEW]
      batch_key = input_pixels.tobytes()
      if batch_key not in made_for:
        made = {"encode": reconstruct.encode(networks, inputs, mirror=mirror)}
        if last >= 1:
          made["refine"], _, _ = reconstruct.refine(
              networks, config, inputs, made["encode"], steps=refine_steps)
        made_for[batch_key] = made
      made = made_for[batch_key]
      for stage in [s for s in stages if s != "tune"]:
        scored = score(networks.g_params, made[stage], part)
        chunks[stage].append(take(sharding.to_host(scored), slice(keep)))
        estimates[stage].append(take(sharding.to_host(made[stage]),
                                     slice(keep)))
      if last == 2:
        # Tuning makes one generator per identity: one identity per call.
        refined = sharding.to_host(made["refine"])
        for i in range(keep):
          one = take(refined, [i])
          one_device = sharding.replicate_like(one, reference)
          single = sharding.replicate_like(take(held_out, [rows[i]]),
                                           reference)
          input_key = input_pixels[i].tobytes()
          if input_key not in tuned_for:
            tuned_for[input_key], _ = reconstruct.tune(
                networks, config, single.images[:, INPUT_VIEW], one_device,
                steps=refine_steps)
          g_params = tuned_for[input_key]
          tuned.append(g_params)
          scored = score(g_params, one_device, single)
          chunks["tune"].append(sharding.to_host(scored))
          estimates["tune"].append(one)
    for stage in stages:
      per_view = jax.tree.map(lambda *a: np.concatenate(a), *chunks[stage])
      results, figures = out[stage]
      figures[held_out_set] = views_figure(held_out.images,
                                           per_view.pop("render"))
      results.update(summarize(
          per_view, yaw_differences(held_out),
          refine_steps=refine_steps if stage != "encode" else 0,
          tune_generator=stage == "tune", prefix=f"{held_out_set}/"))
      if mesh_resolution:
        estimate = jax.tree.map(lambda *a: np.concatenate(a),
                                *estimates[stage])
        meshes = mesh_metrics(networks, config, estimate, held_out,
                              resolution=mesh_resolution,
                              g_params=tuned if stage == "tune" else None)
        results.update({f"{held_out_set}/{k}": v for k, v in
                        metrics.summarize(meshes).items()})
  views = sharding.replicate_like(random_views(config, seed), reference)
  consistency = metrics.summarize({
      "identity_consistency_random": sharding.to_host(_random_consistency_jit(
          networks.g_graphdef, networks.g_params, networks.e2_graphdef,
          networks.e2_params, views, render_fn=render))})
  for results, _ in out.values():
    results.update(consistency)
  return out


def views_figure(truth, renders, max_identities: int = 8) -> np.ndarray:
  """Each identity's true views above the model's, as one picture.

  Args:
    truth: uint8 [n, v, s, s, 3] held-out views (view 0 the input).
    renders: uint8 [n, v, s, s, 3] the reconstruction of view 0 rendered at
      every view's true camera.
    max_identities: show the first this many identities.

  Returns:
    uint8 [h, w, 3]: rows alternate truth / model, columns are views.
  """
  k = min(max_identities, len(truth))
  rows = np.stack([np.asarray(truth[:k]), np.asarray(renders[:k])], axis=1)
  return sampling.make_grid(rows.reshape(2 * k, *rows.shape[2:]))


@functools.partial(jax.jit, static_argnames=("judge_graphdef", "head_size",
                                             "render_fn", "mirror"))
def _held_out_step(networks: structs.Networks, judge_graphdef, judge_params,
                   held_out: structs.HeldOut, mean_image, *,
                   head_size: float, render_fn, mirror: bool):
  """Encode, render and score ``held_out`` at once."""
  estimate = reconstruct.encode(networks, held_out.images[:, INPUT_VIEW],
                                mirror=mirror)
  per_view = _view_metrics(
      networks.g_graphdef, networks.g_params, networks.e2_graphdef,
      networks.e2_params, judge_graphdef, judge_params, estimate, held_out,
      mean_image, head_size=head_size, render_fn=render_fn)
  per_view.pop("render")  # training logs numbers only
  return per_view


def can_log_held_out(config) -> bool:
  """Whether a run's data has held-out 3D ground truth."""
  return (config.data.name == "synthetic_faces"
          and config.data.test_identities > 0)


@flax.struct.dataclass
class HeldOutBatch:
  """What training scores: each set's first identities and the baselines.

  Attributes:
    sets: {set name: ``structs.HeldOut``}.
    mean_image: [s, s, 3] the mean training image in [0, 255].
  """

  sets: dict
  mean_image: jax.Array


def load_held_out_batch(config, num_identities: int) -> HeldOutBatch:
  """The fixed batch training logs (host arrays), read once."""
  return HeldOutBatch(
      sets={name: held_out_lib.load(config.data, num_identities, name)
            for name in held_out_lib.SETS},
      mean_image=mean_training_image(config.data))


def held_out_metrics(networks: structs.Networks, config,
                     batch: HeldOutBatch, judge=None) -> dict:
  """``evaluate``'s metrics (Q only, no refinement, no mesh) of a batch.

  One compiled call per set whatever the step, so it is cheap to repeat
  during training. Every process must call it (the parameters may span
  hosts).

  Args:
    networks: the current networks (with Q).
    config: run config.
    batch: from ``load_held_out_batch``.
    judge: ``(graphdef, params)`` of the judge network, or None.

  Returns:
    The ``<set>/<metric>`` entries ``evaluate`` returns.
  """
  judge_graphdef, judge_params = judge or (None, None)
  reference = jax.tree.leaves(networks.g_params)[0]
  results = {}
  for name, held_out in batch.sets.items():
    per_view = _held_out_step(
        networks, judge_graphdef,
        sharding.replicate_like(judge_params, reference),
        sharding.replicate_like(held_out, reference),
        sharding.replicate_like(batch.mean_image, reference),
        head_size=head_size(config), render_fn=render,
        mirror=reconstruct.mirror_pose(config))
    results.update(summarize(sharding.to_host(per_view),
                             yaw_differences(held_out), refine_steps=0,
                             prefix=f"{name}/"))
  return results
