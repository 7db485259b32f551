"""Is Q behind its generator? Q trained on alone, the generator frozen.

During training Q chases a moving generator (and is scored with its EMA).
Here a trained run's Q is trained on by itself for a few hundred steps
against the run's frozen EMA generator -- the one evaluation renders with
-- on the training data, with the run's own branch terms that reach Q
(recon L1 and perceptual, identity through the frozen E1, KL, cross-view,
the real pose and the regression of prior samples' pose and codes),
Adam at ``optim.branch_lr`` (or ``--lr``), clipped as training clips. If
Q's feed-forward reconstructions of held-out faces then gain, Q lagged its
generator; if they do not, what separates Q from per-image optimisation
(multiview_fit.py) is the encoder itself.

At each step count of ``--steps`` (and before the first), the held-out
identities of both sets are encoded from view 0 (as ``evaluate`` encodes
them, flip-averaged pose) and every view scored with ``evaluate``'s
per-view metrics at the true cameras; one JSON line per (steps, set) with
the novel views' means and Q's yaw and pitch error on the input view.

  python experiments/2026-11-30_quality/encoder_stage.py RUN \\
      [--steps 2,100,300,600] [--lr 1e-3] [--test-identities 32] >> rows.jsonl
"""

import argparse
import functools
import json
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

import multiview_fit  # same directory: its Scorer

from jaxface import camera as camera_lib
from jaxface import encoders
from jaxface import generator
from jaxface import identity_branch
from jaxface import workdir as workdir_lib
from jaxface.data import held_out as held_out_lib
from jaxface.data import input_pipeline


def branch_loss(q_params, networks, batch, key, config):
  """The run's branch terms that reach Q, the generator and E1 frozen.

  Args:
    q_params: Q's weights (the differentiated argument).
    networks: the run's networks (EMA generator, E1, E2).
    batch: a training batch (``image`` uint8 [b, s, s, 3] in identity
      pairs, ``yaw`` and ``pitch`` [b]).
    key: PRNG key (codes' noise, prior samples, depth jitter).
    config: the run config.

  Returns:
    (weighted loss, {term: batch mean}).
  """
  lc = config.loss
  real = encoders.to_model_range(batch["image"])
  model = networks.generator()
  q = nnx.merge(networks.q_graphdef, q_params)
  k_branch, k_cam, k_z, k_depth = jax.random.split(key, 4)
  renders = identity_branch.encode_and_render(
      model, q, real, k_branch, config.camera,
      identity_branch.cross_view(config), config.identity.code_noise,
      novel=False)
  real_pose = None
  if lc.real_pose_weight > 0:
    real_pose = camera_lib.prior_camera(batch["yaw"], batch["pitch"],
                                        config.camera)
  # Prior samples of known pose and codes, as training draws them.
  cameras = camera_lib.sample_poses(k_cam, real.shape[0], config.camera)
  latents = generator.sample_latents(k_z, real.shape[0], config.field)
  fakes = model(latents, cameras, k_depth).images * 2.0 - 1.0
  terms = identity_branch.branch_losses(
      renders, real, q, fakes, cameras, latents, loss_config=lc,
      e2=(networks.e2_graphdef, networks.e2_params),
      e1=networks.e1() if identity_branch.needs_e1(config) else None,
      real_pose=real_pose)
  return terms.weighted_sum(lc), terms.metrics()


@functools.partial(jax.jit, static_argnames=("config", "tx"))
def _step(q_params, opt_state, networks, batch, key, *, config, tx):
  (loss, terms), grads = jax.value_and_grad(branch_loss, has_aux=True)(
      q_params, networks, batch, key, config)
  updates, opt_state = tx.update(grads, opt_state, q_params)
  return optax.apply_updates(q_params, updates), opt_state, loss, terms


def score(config, networks, held_out, name):
  """The feed-forward row of one held-out set: novel-view means, pose error."""
  start, per_view = multiview_fit.Scorer(config, networks,
                                         held_out).feed_forward()
  out = {f"{name}/{k.removesuffix('_novel')}": v for k, v in
         multiview_fit.Scorer.summary(per_view, ()).items()
         if k.endswith("_novel")}
  error = lambda est, true: float(np.degrees(np.mean(np.abs(
      np.asarray(est) - np.asarray(true)[:, 0]))))
  out[f"{name}/yaw_error_deg"] = error(start.yaw, held_out.yaw)
  out[f"{name}/pitch_error_deg"] = error(start.pitch, held_out.pitch)
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("workdir")
  parser.add_argument("--steps", default="2,100,300,600",
                      help="comma-separated step counts at which Q is scored")
  parser.add_argument("--lr", type=float, default=None,
                      help="Adam step size (optim.branch_lr)")
  parser.add_argument("--batch-size", type=int, default=None,
                      help="training batch (train.batch_size)")
  parser.add_argument("--test-identities", type=int, default=None,
                      help="score the data built with this many (as "
                      "`evaluate --test-identities`)")
  args = parser.parse_args()
  config, networks, step = workdir_lib.restore(args.workdir)
  if args.test_identities:
    held_out_lib.widen(config, args.test_identities)
  lr = config.optim.branch_lr if args.lr is None else args.lr
  batch_size = args.batch_size or config.train.batch_size
  tx = optax.adam(lr)
  if config.optim.get("grad_clip"):
    tx = optax.chain(optax.clip_by_global_norm(config.optim.grad_clip), tx)
  frozen = ml_collections.FrozenConfigDict(config)  # hashable: a jit key
  held_out = {name: held_out_lib.load(config.data, None, name)
              for name in ("clean", "wild")}
  # Batches past any the run trained on (the stream is infinite and
  # seeded): data Q has not seen in this order.
  batches = input_pipeline.iterate_from(
      input_pipeline.train_dataset(config, batch_size), 10 ** 6, config)
  q_params, opt_state = networks.q_params, tx.init(networks.q_params)
  key, done, began = jax.random.key(config.seed), 0, time.time()

  def emit(loss=None):
    row = dict(workdir=args.workdir, step=step, q_steps=done, lr=lr,
               batch_size=batch_size, seconds=round(time.time() - began, 1))
    if loss is not None:
      row["loss"] = float(loss)
    scored = networks.replace(q_params=q_params)
    for name, part in held_out.items():
      row.update(score(config, scored, part, name))
    print(json.dumps(row), flush=True)

  emit()
  loss = None
  for target in sorted(int(s) for s in args.steps.split(",")):
    while done < target:
      batch = {k: jnp.asarray(v) for k, v in next(batches).items()}
      q_params, opt_state, loss, _ = _step(
          q_params, opt_state, networks, batch, jax.random.fold_in(key, done),
          config=frozen, tx=tx)
      done += 1
    emit(loss)


if __name__ == "__main__":
  main()
