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
``HeldOut`` + ``held_out_metrics`` score a small fixed batch in one compiled
call, which ``log_held_out`` writes to TensorBoard during training.
"""

import functools
import json
import pathlib

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxface import camera as camera_lib
from jaxface import errors
from jaxface import files
from jaxface import generator
from jaxface import identity
from jaxface import metrics
from jaxface import reconstruct
from jaxface import structs
from jaxface import train
from jaxface.data import input_pipeline

# Prior samples scored for multi-view identity consistency.
NUM_RANDOM_CODES = 16
# Metrics computed for every rendered view (input view and novel views).
VIEW_METRICS = ("psnr", "ssim", "depth_abs_rel_head", "depth_abs_rel",
                "depth_scale_invariant", "identity_cosine")
# Views an identity is reconstructed from.
INPUT_VIEW = 0


@flax.struct.dataclass
class HeldOut:
  """Ground truth of ``n`` test identities, ``v`` views each.

  View index 0 on axis 1 is the input view (the data set's view 0); the
  others are the novel views. Depth is camera-axis depth, like the
  generator's, and 0 on the background.

  Attributes:
    images: uint8 [n, v, s, s, 3].
    depth: float32 [n, v, s, s].
    mask: bool [n, v, s, s], the head's pixels.
    yaw: float32 [n, v] radians.
    pitch: float32 [n, v] radians.
    radius: float32 [n, v].
    fov: float32 [n, v] full field of view in radians.
    identity: int64 [n] global identity ids.
  """

  images: jax.Array
  depth: jax.Array
  mask: jax.Array
  yaw: jax.Array
  pitch: jax.Array
  radius: jax.Array
  fov: jax.Array
  identity: jax.Array

  @property
  def num_identities(self) -> int:
    return self.yaw.shape[0]

  @property
  def num_views(self) -> int:
    return self.yaw.shape[1]


@flax.struct.dataclass
class RandomViews:
  """Prior codes and the two cameras they are compared between.

  Attributes:
    latents: ``generator.Latents``, each [k, dim].
    camera_a: ``structs.Camera`` of batch k, at one end of the yaw prior.
    camera_b: ``structs.Camera`` of batch k, at the other end.
  """

  latents: generator.Latents
  camera_a: structs.Camera
  camera_b: structs.Camera


def check_evaluable(config, state):
  """Raises unless ``state`` and ``config`` can be evaluated here.

  Raises:
    errors.CheckpointError: the run has no Q (trained without the identity
      branch), so it cannot reconstruct images.
    errors.ConfigError: the data set has no 3D ground truth.
  """
  if state.e_params is None:
    raise errors.CheckpointError(
        "this run was trained without the identity branch (Q), so it cannot "
        "reconstruct images to evaluate")
  if config.data.name != "synthetic_faces":
    raise errors.ConfigError(
        f"evaluation needs ground-truth pose and depth: data.name must be "
        f"synthetic_faces, got {config.data.name!r}")


def load_held_out(data_config, num_identities: int | None = None) -> HeldOut:
  """Reads the test split into a ``HeldOut`` (host numpy arrays).

  Args:
    data_config: the run's ``data`` section (``synthetic_faces``).
    num_identities: the first (lowest-id) test identities to keep; all if
      None, at most as many as the split holds.

  Returns:
    A ``HeldOut`` ordered by identity id, views by view index.

  Raises:
    errors.ConfigError: a data set that is not ``synthetic_faces``, images
      of another size than ``data.image_size``, or ``num_identities < 1``.
    errors.DataError: a test split without identities or whose identities
      lack the input view or another view.
  """
  if data_config.name != "synthetic_faces":
    raise errors.ConfigError(
        f"evaluation needs ground-truth pose and depth: data.name must be "
        f"synthetic_faces, got {data_config.name!r}")
  if num_identities is not None and num_identities < 1:
    raise errors.ConfigError(
        f"need at least one identity to evaluate, got {num_identities}")
  if data_config.test_identities < 1:
    raise errors.DataError("the data set has no test identities")
  source = input_pipeline.make_source(data_config, "test")
  # The builder stores examples in hash order: regroup them by identity.
  by_identity = {}
  for i in range(len(source)):
    example = source[i]
    views = by_identity.setdefault(int(example["identity"]), {})
    views[int(example["view"])] = example
  ids = sorted(by_identity)[:num_identities]
  view_ids = sorted(by_identity[ids[0]])
  for i in ids:
    if sorted(by_identity[i]) != view_ids:
      raise errors.DataError(
          f"test identities {ids[0]} and {i} have different views")
  if INPUT_VIEW not in view_ids or len(view_ids) < 2:
    raise errors.DataError(
        f"test identities need view {INPUT_VIEW} and another view, have "
        f"{view_ids}")
  # The input view first, the novel views after it.
  view_ids = [INPUT_VIEW] + [v for v in view_ids if v != INPUT_VIEW]
  size = data_config.image_size
  shape = np.shape(by_identity[ids[0]][INPUT_VIEW]["image"])
  if shape != (size, size, 3):
    raise errors.ConfigError(
        f"test images are {shape}, the model makes ({size}, {size}, 3)")

  def gather(get, dtype):
    return np.asarray([[get(by_identity[i][v]) for v in view_ids]
                       for i in ids], dtype)

  return HeldOut(
      images=gather(lambda e: e["image"], np.uint8),
      depth=gather(lambda e: e["depth"], np.float32),
      mask=gather(lambda e: e["mask"], bool),
      yaw=gather(lambda e: e["pose"]["yaw"], np.float32),
      pitch=gather(lambda e: e["pose"]["pitch"], np.float32),
      radius=gather(lambda e: e["pose"]["radius"], np.float32),
      fov=gather(lambda e: e["pose"]["fov"], np.float32),
      identity=np.asarray(ids, np.int64))


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


def render(g_graphdef, g_params, latents, camera) -> generator.GeneratorOutput:
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
                      estimate: reconstruct.Estimate, held_out: HeldOut, *,
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


def _to_host(tree):
  """Numpy copies of (possibly multi-host, replicated) arrays."""

  def one(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      # Replicated outputs: every process holds the whole value.
      return np.asarray(x.addressable_data(0))
    return np.asarray(x)

  return jax.tree.map(one, tree)


def _put_like(tree, reference: jax.Array):
  """Host arrays replicated over the devices ``reference`` lives on.

  Built per shard from the host copy, which every process holds, so it also
  works when the parameters span several processes.
  """
  sharding = reference.sharding
  if isinstance(sharding, NamedSharding):
    sharding = NamedSharding(sharding.mesh, P())
  elif not sharding.is_fully_replicated:
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])

  def one(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda i: x[i])

  return jax.tree.map(one, tree)


def _e2(state):
  return state.e2_graphdef, state.e2_params


def evaluate(config, state, *, num_identities: int | None = None,
             refine_steps: int = 0, seed: int = 0,
             batch_size: int | None = None) -> dict:
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
    state: its ``TrainState`` (trained with the identity branch).
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
  check_evaluable(config, state)
  held_out = load_held_out(config.data, num_identities)
  n = held_out.num_identities
  batch = max(1, min(batch_size or config.train.batch_size, n))
  reference = jax.tree.leaves(state.g_ema_params)[0]
  e2_graphdef, e2_params = _e2(state)
  chunks = []
  for start in range(0, n, batch):
    # Repeating the last identity pads every batch to one shape (one
    # compile); the copies are dropped below.
    rows = np.minimum(np.arange(start, start + batch), n - 1)
    part = _put_like(jax.tree.map(lambda a, r=rows: np.asarray(a)[r],
                                  held_out), reference)
    inputs = part.images[:, INPUT_VIEW]
    estimate = reconstruct.encode(state, inputs)
    g_params = state.g_ema_params
    if refine_steps > 0:
      estimate, g_params, _ = reconstruct.refine(
          state, config, inputs, estimate, steps=refine_steps)
    out = _identity_metrics_jit(
        state.g_graphdef, g_params, e2_graphdef, e2_params, estimate, part,
        head_size=head_size(config), render_fn=render)
    keep = min(batch, n - start)
    chunks.append(jax.tree.map(lambda a, k=keep: a[:k], _to_host(out)))
  per_identity = jax.tree.map(lambda *a: np.concatenate(a), *chunks)
  views = _put_like(random_views(config, seed), reference)
  consistency = _to_host(_random_consistency_jit(
      state.g_graphdef, state.g_ema_params, e2_graphdef, e2_params, views,
      render_fn=render))
  return summarize(per_identity, consistency, refine_steps=refine_steps)


@functools.partial(jax.jit, static_argnames=("head_size", "render_fn"))
def _held_out_step(state, held_out: HeldOut, views: RandomViews, *,
                   head_size: float, render_fn):
  """Encode, render and score ``held_out`` and the random codes at once."""
  estimate = reconstruct.encode(state, held_out.images[:, INPUT_VIEW])
  e2_graphdef, e2_params = _e2(state)
  per_identity = _identity_metrics(
      state.g_graphdef, state.g_ema_params, e2_graphdef, e2_params, estimate,
      held_out, head_size=head_size, render_fn=render_fn)
  consistency = _random_consistency(
      state.g_graphdef, state.g_ema_params, e2_graphdef, e2_params, views,
      render_fn=render_fn)
  return per_identity, consistency


def held_out_metrics(state, config, held_out: HeldOut,
                     views: RandomViews) -> dict:
  """``evaluate``'s metrics (Q only, no refinement) of a fixed batch.

  One compiled call whatever the step, so it is cheap to repeat during
  training. Every process must call it (the parameters may span hosts).

  Args:
    state: the current ``TrainState`` (with Q).
    config: run config.
    held_out: from ``load_held_out`` (host or device arrays).
    views: from ``random_views``.

  Returns:
    The dict ``evaluate`` returns.
  """
  reference = jax.tree.leaves(state.g_ema_params)[0]
  per_identity, consistency = _held_out_step(
      state, _put_like(held_out, reference), _put_like(views, reference),
      head_size=head_size(config), render_fn=render)
  return summarize(_to_host(per_identity), _to_host(consistency),
                   refine_steps=0)


# The fixed batch of the running training job, read once per data setting.
_TRAINING_BATCH = {}


def log_held_out(state, config, step: int, writer) -> dict | None:
  """Held-out metrics during training, written as ``eval/<name>``.

  Only for runs that train Q on ``synthetic_faces`` with test identities;
  otherwise does nothing and returns None. Scores the first
  ``config.log.eval_num_identities`` (default 8) test identities. Every
  process must call it; only those with a ``writer`` write.

  Args:
    state: the current ``TrainState``.
    config: run config.
    step: the TensorBoard step.
    writer: a ``tensorboardX.SummaryWriter`` or None.

  Returns:
    The metrics, or None if the run cannot be evaluated.
  """
  if (state.e_params is None or config.data.name != "synthetic_faces"
      or config.data.test_identities < 1):
    return None
  num = int(config.log.get("eval_num_identities", 8))
  # What the batch depends on: the data, its size and the codes' shapes.
  key = json.dumps([config.data.to_dict(), num, config.field.to_dict(),
                    config.camera.to_dict()], sort_keys=True, default=str)
  if key not in _TRAINING_BATCH:
    _TRAINING_BATCH.clear()  # one run per process: keep one batch only
    _TRAINING_BATCH[key] = (load_held_out(config.data, num),
                            random_views(config))
  results = held_out_metrics(state, config, *_TRAINING_BATCH[key])
  if writer is not None:
    for name, value in results.items():
      if name not in ("num_identities", "num_novel_views", "refine_steps"):
        writer.add_scalar(f"eval/{name}", value, step)
  return results


def _write_json(path: pathlib.Path, data: dict):
  files.write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())


def evaluate_command(workdir, out=None, *, refine_steps: int = 0,
                     num_identities: int | None = None) -> dict:
  """``jaxface evaluate``: metrics of the latest checkpoint, as JSON.

  The test data is the run's own (``config.data.data_dir``, relative to the
  current directory). Prints the metrics as a table.

  Args:
    workdir: the training workdir.
    out: JSON path; ``WORKDIR/eval/metrics_step<step>.json`` if None.
    refine_steps: test-time optimisation steps (0: Q's estimate only).
    num_identities: the first this many test identities (all if None).

  Returns:
    ``dict(step=..., path=..., **metrics)``. The JSON file holds the step
    and the metrics; a PSNR of +inf or a NaN mean is written as Python's
    ``json`` writes them (``Infinity``, ``NaN``).
  """
  config, state = train.restore_for_inference(workdir)
  results = evaluate(config, state, num_identities=num_identities,
                     refine_steps=refine_steps)
  step = int(_to_host(state.step))
  path = pathlib.Path(out) if out else (
      pathlib.Path(workdir) / "eval" / f"metrics_step{step}.json")
  if jax.process_index() == 0:
    _write_json(path, dict(step=step, **results))
    print(metrics.format_table(results))
  return dict(step=step, path=str(path), **results)
