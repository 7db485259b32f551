"""Reconstruction quality on held-out synthetic identities.

The synthetic test split holds identities never seen in training, each
rendered from several cameras with ground-truth pose, depth and head mask.
For every test identity, view 0 (neutral expression) is the input: Q encodes
it (optionally refined by test-time optimisation), and the estimated codes
are rendered at the ground-truth camera of every view of that identity. The
renders are scored against each view's own ground truth:

* image quality: PSNR and SSIM against the true image;
* geometry: depth errors inside the true head mask (see ``downsample_depth``
  for how the two resolutions are matched);
* pose: the angle between Q's estimated and the true input viewpoint;
* identity: E2's cosine similarity between the input photo and each render,
  and, for random prior codes, between two renders of one code from the two
  ends of the yaw prior (multi-view identity consistency).

Metrics named ``*_novel`` average over the views other than the input,
``*_input`` over the input view itself (rendered at its true camera, so that
pose errors are measured separately and do not mix into image and depth
errors).

``evaluate`` scores the whole test split (``jaxface evaluate``);
``held_out_metrics`` scores a small fixed batch (``data.held_out.load``) in
one compiled call, which training logs to TensorBoard.
"""

import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import errors
from jaxface import generator
from jaxface import identity
from jaxface import metrics
from jaxface import reconstruct
from jaxface import sharding
from jaxface import structs
from jaxface.data import held_out as held_out_lib

# Prior samples scored for multi-view identity consistency.
NUM_RANDOM_CODES = 16
# Metrics computed for every rendered view (input view and novel views).
VIEW_METRICS = ("psnr", "ssim", "depth_abs_rel_head", "depth_abs_rel",
                "depth_scale_invariant", "identity_cosine")
INPUT_VIEW = held_out_lib.INPUT_VIEW


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


def render(g_graphdef, g_params, latents, camera) -> structs.GeneratorOutput:
  """The generator at bin-centre depths (no jitter): the renders scored."""
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
    (depth [b, h, h], mask [b, h, h] bool).
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


def _identity_metrics(g_graphdef, g_params, e2_graphdef, e2_params,
                      estimate: structs.Estimate, held_out: structs.HeldOut, *,
                      head_size: float, render_fn):
  """Per-identity and per-view metrics of one batch of reconstructions.

  Args:
    g_graphdef: generator graph definition.
    g_params: generator weights to render with.
    e2_graphdef: E2's graph definition, or None.
    e2_params: E2's weights, or None (identity metrics are then NaN).
    estimate: the reconstruction of each identity's input view, batch n.
    held_out: the ground truth, n identities x v views.
    head_size: depth error scale for ``abs_rel_head``.
    render_fn: ``render`` or a stand-in with its signature (tests).

  Returns:
    Dict of ``VIEW_METRICS`` [n, v] (axis 1 as ``held_out``), plus
    ``identity_cosine_gt`` [n, v] (E2 cosine between the input and each true
    view: what a perfect render would score) and ``pose_error``,
    ``yaw_error``, ``pitch_error`` [n] degrees. PSNR and SSIM compare the
    renders rounded to 8 bits with the 8-bit data.
  """
  n = held_out.images.shape[0]
  if e2_params is not None:
    embed = functools.partial(identity.embed, e2_graphdef, e2_params)
    input_embedding = embed(
        held_out.images[:, INPUT_VIEW].astype(jnp.float32) / 255.0)
    cosine_to_input = lambda x: metrics.cosine(embed(x), input_embedding)
  else:
    cosine_to_input = lambda x: jnp.full((n,), jnp.nan)

  def one_view(view):
    """Every identity rendered at its own true camera of one view."""
    gt, depth, mask, yaw, pitch, radius, fov = view
    cam = camera_lib.make_camera(yaw, pitch, radius, fov)
    out = render_fn(g_graphdef, g_params, estimate.latents, cam)
    rendered = jnp.clip(out.images, 0.0, 1.0)
    # Images are scored as the 8-bit pictures they are saved as, on the
    # same integer grid as the data, so a perfect render scores exactly.
    rendered8 = jnp.round(rendered * 255.0)
    gt8 = gt.astype(jnp.float32)
    gt_depth, gt_mask = downsample_depth(depth, mask, out.depth.shape[-1])
    # The depth of the visible surface, not GIRAFFE's expected depth, which
    # counts any transparent remainder of a ray at its far end.
    depth_errors = metrics.depth_errors(out.surface_depth, gt_depth, gt_mask,
                                        head_size)
    return dict(
        psnr=metrics.psnr(rendered8, gt8, max_value=255.0),
        ssim=metrics.ssim(rendered8, gt8, max_value=255.0),
        identity_cosine=cosine_to_input(rendered),
        identity_cosine_gt=cosine_to_input(gt8 / 255.0),
        **{f"depth_{k}": v for k, v in depth_errors.items()})

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


_STATIC = ("g_graphdef", "e2_graphdef", "head_size", "render_fn")
_identity_metrics_jit = jax.jit(_identity_metrics, static_argnames=_STATIC)
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


def summarize(per_identity: dict, consistency, *, refine_steps: int) -> dict:
  """NaN-aware means of per-identity metrics, named as ``evaluate`` returns.

  Args:
    per_identity: ``_identity_metrics``'s output (host arrays), n rows.
    consistency: [k] random-code identity cosines.
    refine_steps: recorded in the result.

  Returns:
    Flat dict of floats (and the integer counts), in report order.
  """
  per_image = {}
  for name in VIEW_METRICS + ("identity_cosine_gt",):
    per_image[f"{name}_novel"] = np.asarray(per_identity[name])[:, 1:]
  for name in VIEW_METRICS:
    per_image[f"{name}_input"] = np.asarray(per_identity[name])[:, 0]
  for name in ("pose_error", "yaw_error", "pitch_error"):
    per_image[f"{name}_deg"] = per_identity[name]
  per_image["identity_consistency_random"] = consistency
  results = metrics.summarize(per_image)
  n, v = np.shape(per_identity["psnr"])
  results.update(num_identities=int(n), num_novel_views=int(v - 1),
                 refine_steps=int(refine_steps))
  return results


def evaluate(config, networks: structs.Networks, *,
             num_identities: int | None = None, refine_steps: int = 0,
             seed: int = 0, batch_size: int | None = None) -> dict:
  """Reconstruction metrics on the synthetic test identities.

  Each identity's view 0 is encoded by Q (``reconstruct.encode``), then, if
  ``refine_steps > 0``, refined by ``reconstruct.refine`` (codes and pose
  only); the codes are rendered with the EMA generator at the true camera of
  every view. ``batch_size`` identities are reconstructed and scored per
  compiled call (the last batch is padded).

  Identity metrics (``identity_cosine_*``, ``identity_consistency_random``)
  need the face-recognition network E2; a run trained without the identity
  or perceptual losses has none, and reports them as NaN.

  Args:
    config: the run's config.
    networks: its networks (trained with the identity branch).
    num_identities: score the first this many test identities (all if None).
    refine_steps: test-time optimisation steps per batch (0: Q only).
    seed: seed of the random prior codes.
    batch_size: identities per call; ``config.train.batch_size`` if None.

  Returns:
    Flat dict: ``{psnr, ssim, depth_abs_rel_head, depth_abs_rel,
    depth_scale_invariant, identity_cosine}_{novel,input}``,
    ``identity_cosine_gt_novel`` (E2 cosine between the input and the true
    novel views: the ceiling of ``identity_cosine_novel``),
    ``pose_error_deg``, ``yaw_error_deg``, ``pitch_error_deg``,
    ``identity_consistency_random``, and the counts ``num_identities``,
    ``num_novel_views``, ``refine_steps``. PSNR is +inf for a perfect
    render; a NaN mean means no image could be scored.

  Raises:
    errors.CheckpointError: the run has no Q.
    errors.ConfigError: the data set is not ``synthetic_faces``.
  """
  check_evaluable(config, networks)
  held_out = held_out_lib.load(config.data, num_identities)
  n = held_out.num_identities
  batch = max(1, min(batch_size or config.train.batch_size, n))
  reference = jax.tree.leaves(networks.g_params)[0]
  chunks = []
  for start in range(0, n, batch):
    # Repeating the last identity pads every batch to one shape (one
    # compile); the copies are dropped below.
    rows = np.minimum(np.arange(start, start + batch), n - 1)
    part = sharding.replicate_like(
        jax.tree.map(lambda a, r=rows: np.asarray(a)[r], held_out), reference)
    inputs = part.images[:, INPUT_VIEW]
    estimate = reconstruct.encode(networks, inputs)
    g_params = networks.g_params
    if refine_steps > 0:
      estimate, g_params, _ = reconstruct.refine(
          networks, config, inputs, estimate, steps=refine_steps)
    out = _identity_metrics_jit(
        networks.g_graphdef, g_params, networks.e2_graphdef,
        networks.e2_params, estimate, part, head_size=head_size(config),
        render_fn=render)
    keep = min(batch, n - start)
    chunks.append(jax.tree.map(lambda a, k=keep: a[:k],
                               sharding.to_host(out)))
  per_identity = jax.tree.map(lambda *a: np.concatenate(a), *chunks)
  views = sharding.replicate_like(random_views(config, seed), reference)
  consistency = sharding.to_host(_random_consistency_jit(
      networks.g_graphdef, networks.g_params, networks.e2_graphdef,
      networks.e2_params, views, render_fn=render))
  return summarize(per_identity, consistency, refine_steps=refine_steps)


@functools.partial(jax.jit, static_argnames=("head_size", "render_fn"))
def _held_out_step(networks: structs.Networks, held_out: structs.HeldOut,
                   views: RandomViews, *, head_size: float, render_fn):
  """Encode, render and score ``held_out`` and the random codes at once."""
  estimate = reconstruct.encode(networks, held_out.images[:, INPUT_VIEW])
  per_identity = _identity_metrics(
      networks.g_graphdef, networks.g_params, networks.e2_graphdef,
      networks.e2_params, estimate, held_out, head_size=head_size,
      render_fn=render_fn)
  consistency = _random_consistency(
      networks.g_graphdef, networks.g_params, networks.e2_graphdef,
      networks.e2_params, views, render_fn=render_fn)
  return per_identity, consistency


def can_log_held_out(config) -> bool:
  """Whether a run trains Q on data with held-out 3D ground truth."""
  return (config.data.name == "synthetic_faces"
          and config.data.test_identities > 0)


def held_out_metrics(networks: structs.Networks, config,
                     held_out: structs.HeldOut, views: RandomViews) -> dict:
  """``evaluate``'s metrics (Q only, no refinement) of a fixed batch.

  One compiled call whatever the step, so it is cheap to repeat during
  training. Every process must call it (the parameters may span hosts).

  Args:
    networks: the current networks (with Q).
    config: run config.
    held_out: from ``data.held_out.load`` (host or device arrays).
    views: from ``random_views``.

  Returns:
    The dict ``evaluate`` returns.
  """
  reference = jax.tree.leaves(networks.g_params)[0]
  per_identity, consistency = _held_out_step(
      networks, sharding.replicate_like(held_out, reference),
      sharding.replicate_like(views, reference),
      head_size=head_size(config), render_fn=render)
  return summarize(sharding.to_host(per_identity),
                   sharding.to_host(consistency), refine_steps=0)
