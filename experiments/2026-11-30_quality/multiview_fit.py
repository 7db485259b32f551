"""How well can a trained generator draw a held-out head it is shown?

A ceiling for single-image reconstruction with a given generator: each
held-out identity of the clean set is fitted by optimisation, with the true
cameras (no pose error), on one, four or all eight of its views, and every
view is then scored as ``jaxface evaluate`` scores it (PSNR inside the true
head mask, beside copying the input view). Two levels:

* ``codes``: Adam on the identity's four codes (from Q's estimate of the
  input view), the generator fixed: the generator's range over its codes.
  Fitted on all eight views, no single-image method that keeps the
  generator (Q, refinement) can do better on these views.
* ``tune``: then Adam on the 3D field itself, codes fixed (the neural
  renderer as ``refine.tune_renderer`` says): what the representation,
  from these weights, can hold of a head seen from the fitted views;
  scored on the views it was not shown, how far that carries.

Fitting the input view at Q's estimated pose instead (``input@q``, as
refinement sees it) tells what Q's pose error costs.

The loss is the test-time loss's pixel terms (``refine.l1_weight`` times
L1, ``refine.perceptual_weight`` times E2's perceptual distance), averaged
over the fitted views, plus ``refine.prior_weight`` times the codes'
Gaussian prior; step sizes ``refine.lr`` (codes) and ``refine.tune_lr``
(field). One JSON line per (level, fitted views, steps).

  python experiments/2026-11-30_quality/multiview_fit.py RUN \\
      [--code-steps 100,400] [--tune-steps 200] [--fit input,half,all] \\
      [--tune-fit input,half] [--identities N] [--figures DIR] >> rows.jsonl

With ``--figures``, each row's renders are drawn as ``evaluate`` draws
them (truth above fit, view 0 the input), in DIR/<level>_<fit>_<steps>.png.
"""

import argparse
import functools
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import evaluate
from jaxface import export
from jaxface import identity
from jaxface import losses
from jaxface import reconstruct
from jaxface import structs
from jaxface import workdir as workdir_lib
from jaxface.data import held_out as held_out_lib

# Views each fit is shown; view 0 is the input view of `evaluate`.
FIT_VIEWS = {"input": (0,), "half": (0, 2, 4, 6), "all": tuple(range(8))}
# "input@q": the input view at Q's estimate of its pose, not the true one
# (as `refine` sees it); the difference from "input" is what Q's pose error
# costs a fit of the codes.
Q_POSE_FITS = {"input@q": "input"}


def _fit_loss(networks, g_params, latents, cameras, targets01, config):
  """Summed fitting loss of n identities over their v fitted views.

  Args:
    networks: the run's networks (E2 for the perceptual term).
    g_params: generator weights.
    latents: ``structs.Latents`` [n, dim] each.
    cameras: ``structs.Camera`` of batch n * v, identity-major.
    targets01: [n * v, s, s, 3] in [0, 1], in the same order.
    config: the run config (``refine`` weighs the terms).

  Returns:
    Scalar: per identity, the mean over its views of the pixel terms plus
    the prior, summed over identities (each identity's codes see only
    their own terms).
  """
  n = latents.z_shape.shape[0]
  v = targets01.shape[0] // n
  repeated = jax.tree.map(lambda z: jnp.repeat(z, v, axis=0), latents)
  out = nnx.merge(networks.g_graphdef, g_params)(repeated, cameras)
  pixel = config.refine.l1_weight * losses.l1_distance(out.images, targets01)
  if networks.e2_params is not None:
    pixel += config.refine.perceptual_weight * identity.perceptual_distance(
        networks.e2_graphdef, networks.e2_params, out.images, targets01)
  per_identity = jnp.mean(pixel.reshape(n, v), axis=1)
  prior = config.refine.prior_weight * losses.latent_prior(latents)
  return jnp.sum(per_identity + prior)


@functools.partial(jax.jit, static_argnames=("config", "steps", "tune"))
def _adam_steps(networks, g_params, latents, opt_state, cameras, targets01,
                *, config, steps: int, lr: float, tune: bool):
  """``steps`` Adam steps on the codes, or (``tune``) on the field.

  Returns:
    (g_params, latents, opt_state, the loss at the last step, before its
    update).
  """
  tx = optax.adam(lr)
  variables, frozen = (reconstruct.split_tunable(g_params, config) if tune
                       else (latents, {}))

  def loss_fn(variables):
    if tune:
      return _fit_loss(networks, {**variables, **frozen}, latents, cameras,
                       targets01, config)
    return _fit_loss(networks, g_params, variables, cameras, targets01,
                     config)

  def step(carry, _):
    variables, opt_state = carry
    loss, grads = jax.value_and_grad(loss_fn)(variables)
    updates, opt_state = tx.update(grads, opt_state, variables)
    return (optax.apply_updates(variables, updates), opt_state), loss

  (variables, opt_state), loss = jax.lax.scan(
      step, (variables, opt_state), None, length=steps)
  if tune:
    return {**variables, **frozen}, latents, opt_state, loss[-1]
  return g_params, variables, opt_state, loss[-1]


def _views(held_out: structs.HeldOut, views, pose=None):
  """Cameras and [0, 1] images of ``views`` of every identity, n * v.

  ``pose``: (yaw, pitch) [n] each, replacing the true pose of a single
  view; None keeps the true cameras.
  """
  take = lambda a: np.asarray(a)[:, list(views)].reshape(
      -1, *np.shape(a)[2:])
  yaw, pitch = take(held_out.yaw), take(held_out.pitch)
  if pose is not None:
    assert len(views) == 1, "an estimated pose is given for one view only"
    yaw, pitch = (np.asarray(a, np.float32) for a in pose)
  cameras = camera_lib.make_camera(
      jnp.asarray(yaw), jnp.asarray(pitch),
      jnp.asarray(take(held_out.radius)), jnp.asarray(take(held_out.fov)))
  images = jnp.asarray(take(held_out.images), jnp.float32) / 255.0
  return cameras, images


def _init_state(config, g_params, latents, tune: bool):
  tx = optax.adam(1.0)  # the step size does not enter Adam's state
  return tx.init(reconstruct.split_tunable(g_params, config)[0] if tune
                 else latents)


class Scorer:
  """``evaluate``'s per-view metrics of fitted heads, at the true cameras."""

  def __init__(self, config, networks, held_out):
    self.config, self.networks, self.held_out = config, networks, held_out
    self.mean_image = evaluate.mean_training_image(config.data)

  def per_view(self, g_params, latents, rows):
    part = jax.tree.map(lambda a: np.asarray(a)[rows], self.held_out)
    estimate = structs.Estimate(
        latents, jnp.asarray(part.yaw[:, 0]), jnp.asarray(part.pitch[:, 0]))
    scored = evaluate._view_metrics_jit(  # pylint: disable=protected-access
        self.networks.g_graphdef, g_params, self.networks.e2_graphdef,
        self.networks.e2_params, None, None, estimate, part,
        self.mean_image, head_size=evaluate.head_size(self.config),
        render_fn=evaluate.render)
    return {k: np.asarray(v) for k, v in scored.items()}

  def feed_forward(self):
    """(Q's estimate of every input view, its per-view metrics): the
    ``evaluate`` feed-forward stage (flip-averaged pose where the run's
    refinement reads it so)."""
    start = reconstruct.encode(self.networks,
                               jnp.asarray(self.held_out.images[:, 0]),
                               mirror=reconstruct.mirror_pose(self.config))
    rows = np.arange(self.held_out.num_identities)
    return start, self.per_view(self.networks.g_params, start.latents, rows)

  @staticmethod
  def summary(per_view, fitted):
    """Means over fitted, unseen and novel (not the input) views.

    Copying the input is scored only on groups without the input view,
    where it would score infinity on the clean set.
    """
    v = per_view["psnr_head"].shape[1]
    groups = {"fitted": list(fitted),
              "unseen": [i for i in range(v) if i not in fitted],
              "novel": list(range(1, v))}
    out = {}
    for group, views in groups.items():
      if not views:
        continue
      names = ["psnr_head", "ssim_head", "depth_abs_rel_head_offset",
               "opacity_head"]
      if 0 not in views:
        names.append("psnr_head_copy")
      for name in names:
        out[f"{name}_{group}"] = float(np.mean(per_view[name][:, views]))
    return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("workdir")
  parser.add_argument("--code-steps", default="100,400",
                      help="comma-separated steps at which codes are scored")
  parser.add_argument("--tune-steps", type=int, default=200,
                      help="field steps after the last code steps; 0: none")
  parser.add_argument("--fit", default="input,half,all",
                      help="comma-separated view sets of "
                      f"{list(FIT_VIEWS) + list(Q_POSE_FITS)}")
  parser.add_argument("--tune-fit", default="input,half",
                      help="the sets of --fit whose field is also tuned")
  parser.add_argument("--identities", type=int, default=None,
                      help="the first this many held-out identities (all)")
  parser.add_argument("--figures", default=None,
                      help="directory for each row's picture")
  args = parser.parse_args()
  code_steps = sorted(int(s) for s in args.code_steps.split(","))
  config, networks, step = workdir_lib.restore(args.workdir)
  frozen_config = ml_collections.FrozenConfigDict(config)
  held_out = held_out_lib.load(config.data, args.identities, "clean")
  n = held_out.num_identities
  scorer = Scorer(config, networks, held_out)
  start, encoded = scorer.feed_forward()
  base = dict(workdir=args.workdir, step=step, identities=n,
              image_size=config.data.image_size)

  def emit(per_view, fitted, **row):
    if args.figures:
      name = f"{row['level']}_{row['fit']}_{row['steps']}.png"
      export.write_png(pathlib.Path(args.figures) / name,
                       evaluate.views_figure(held_out.images,
                                             per_view["render"]), 4)
    print(json.dumps({**base, **row, **Scorer.summary(per_view, fitted)}),
          flush=True)

  all_rows = np.arange(n)
  emit(encoded, (), level="encode", fit="none", steps=0)
  for fit in args.fit.split(","):
    if fit in Q_POSE_FITS:
      views = FIT_VIEWS[Q_POSE_FITS[fit]]
      cameras, targets = _views(held_out, views, (start.yaw, start.pitch))
    else:
      views = FIT_VIEWS[fit]
      cameras, targets = _views(held_out, views)
    latents = start.latents
    opt_state = _init_state(config, networks.g_params, latents, tune=False)
    done, began = 0, time.time()
    for target in code_steps:
      _, latents, opt_state, loss = _adam_steps(
          networks, networks.g_params, latents, opt_state, cameras, targets,
          config=frozen_config, steps=target - done, lr=config.refine.lr,
          tune=False)
      done = target
      emit(scorer.per_view(networks.g_params, latents, all_rows), views,
           level="codes", fit=fit, steps=done, loss=float(loss),
           seconds=round(time.time() - began, 1))
    if args.tune_steps <= 0 or fit not in args.tune_fit.split(","):
      continue
    # One field per identity: the tuned weights are shared by a batch.
    began, per_view, tune_loss = time.time(), [], []
    for i in range(n):
      one = jax.tree.map(lambda z: z[i:i + 1], latents)
      chosen = np.arange(i * len(views), (i + 1) * len(views))
      cams = jax.tree.map(lambda a: a[chosen], cameras)
      g_params, _, _, loss = _adam_steps(
          networks, networks.g_params, one,
          _init_state(config, networks.g_params, one, tune=True), cams,
          targets[chosen], config=frozen_config, steps=args.tune_steps,
          lr=config.refine.tune_lr, tune=True)
      tune_loss.append(float(loss))
      per_view.append(scorer.per_view(g_params, one, [i]))
    per_view = {k: np.concatenate([p[k] for p in per_view])
                for k in per_view[0]}
    emit(per_view, views, level="tune", fit=fit, steps=done,
         tune_steps=args.tune_steps, loss=float(np.sum(tune_loss)),
         seconds=round(time.time() - began, 1))


if __name__ == "__main__":
  main()
