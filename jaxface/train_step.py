"""Stage 7: one pure training iteration.

sample -> render -> G and branch update -> EMA, with the D update where
``config.train.update_order`` puts it:

* "g_then_d" (GIRAFFE): G is updated against the current D, then D on the
  reals (with R1) and on fakes freshly rendered by the updated G. Two
  generator forwards per iteration, as the official code.
* "d_then_g" (jaxface): one render serves both. ``jax.vjp`` keeps its
  pullback, D is updated on the (stop-gradient) fakes, and G's gradient is
  the pullback of its loss under the updated D. The usual alternating
  update, without the second generator forward.

D reads images in ``config.disc.input_range`` (GIRAFFE: [0, 1]); the
generator, Q and the branch's losses use [-1, 1].

With the identity branch on (``identity_branch.uses_identity_branch``), the
same render also holds Q's codes of the real images at Q's pose and at
random poses (``identity_branch.encode_and_render``); the generator and Q
share the one ``jax.vjp``, and E1 and Q's regression terms take their
gradients directly. With every branch weight 0 none of this is traced and
the step is plain GIRAFFE.

``hparams`` makes learning rates, the EMA decay and loss weights traced
arrays instead of config constants. ``jaxface sweep`` passes one value per
member, so that one compiled step serves a grid under ``jax.vmap``;
``jaxface train`` passes the config's own (``config_hparams``), so that
runs which differ only in those values compile the same program and reuse
it from the compilation cache. Which terms are traced is still decided by
the (static) config.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import encoders
from jaxface import errors
from jaxface import generator
from jaxface import identity_branch
from jaxface import losses
from jaxface import optim
from jaxface import train_state as train_state_lib


def compute_params(params, config):
  """The float32 parameters as G and D compute with them.

  ``train.compute_dtype`` "bfloat16": activations and matmuls in bfloat16
  (G's field and renderer, D), while parameters, gradients and optimiser
  states stay float32 -- the cast is inside the differentiated function,
  so gradients arrive in float32. Volume rendering and losses stay float32.
  """
  dtype = jnp.dtype(config.train.get("compute_dtype", "float32"))
  if dtype == jnp.float32:
    return params
  return jax.tree.map(lambda p: p.astype(dtype), params)


def _render(state, latents, cameras, real, k_depth, k_branch, config,
            g_params, branch_params):
  """(fakes in [-1, 1], ``BranchRenders`` or None): the step's forward pass.

  A function of the trained parameters only, so that one ``jax.vjp`` gives
  the generator's and Q's gradients of everything rendered here.
  """
  model = nnx.merge(state.g_graphdef, compute_params(g_params, config))
  fakes = model(latents, cameras, k_depth).images * 2.0 - 1.0
  renders = None
  if branch_params is not None:
    q = nnx.merge(state.q_graphdef, branch_params["q"])
    renders = identity_branch.encode_and_render(
        model, q, real, k_branch, config.camera,
        identity_branch.cross_view(config), config.identity.code_noise,
        identity_branch.renders_novel(config))
  return fakes, renders


def _to_disc(images, config):
  """Images in [-1, 1] -> D's ``config.disc.input_range``."""
  low, high = config.disc.input_range
  return low + (high - low) * (0.5 * images + 0.5)


# Hyperparameters a sweep may trace: they change values, not the program.
TRACEABLE = ("optim.g_lr", "optim.d_lr", "optim.branch_lr",
             "optim.ema_decay") + tuple(
                 f"loss.{name}" for name in ("r1_weight",)
                 + identity_branch.WEIGHTS)


def _hparam(config, hparams, name: str):
  """``hparams[name]`` if traced, else the config's constant."""
  if hparams and name in hparams:
    return hparams[name]
  section, key = name.split(".")
  return config[section][key]


def config_hparams(config) -> dict:
  """{name in ``TRACEABLE``: float32 scalar}: the config's values, as
  ``hparams``."""
  return {name: np.float32(_hparam(config, None, name)) for name in TRACEABLE}


def _loss_weights(config, hparams) -> dict:
  """{``<term>_weight``: weight} for every term, traced where swept."""
  return {name: _hparam(config, hparams, f"loss.{name}")
          for name in ("r1_weight",) + identity_branch.WEIGHTS}


def _discriminator_update(state, real, fakes, renders, config, d_tx,
                          weights):
  """One optimiser step of D on the reals (with R1) and the fakes.

  Args:
    state: the state whose D is updated.
    real: [b, s, s, 3] real images in [-1, 1].
    fakes: [n, s, s, 3] generated images in [-1, 1] (gradient stopped).
    renders: the branch's ``BranchRenders`` (D also judges their novel
      views), or None.
    config: run config.
    d_tx: D's optimiser.
    weights: the loss weights (``_loss_weights``).

  Returns:
    (d_params, d_opt_state, loss, metrics, d_grads).
  """
  lc = config.loss

  def loss_fn(d_params):
    disc = nnx.merge(state.d_graphdef, compute_params(d_params, config))
    real_in = _to_disc(real, config)
    if lc.r1_weight > 0:
      r1, real_logits = losses.r1_penalty(disc, real_in)
    else:
      r1, real_logits = jnp.zeros(()), disc(real_in)
    fake_logits = disc(_to_disc(jax.lax.stop_gradient(fakes), config))
    gan = losses.discriminator_gan_loss(real_logits, fake_logits)
    metrics = dict(d_gan=gan, r1=r1, d_real=jnp.mean(real_logits),
                   d_fake=jnp.mean(fake_logits))
    loss = gan + weights["r1_weight"] * r1
    if renders is not None and lc.recon_gan_weight > 0:
      # D also learns that Q's codes at random poses are generated.
      novel_logits = disc(_to_disc(jax.lax.stop_gradient(renders.novel),
                                   config))
      loss += weights["recon_gan_weight"] * losses.discriminator_fake_loss(
          novel_logits)
      metrics["d_novel"] = jnp.mean(novel_logits)
    return loss, metrics

  (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.d_params)
  updates, opt_state = d_tx.update(grads, state.d_opt_state,
                                         state.d_params)
  return (optax.apply_updates(state.d_params, updates), opt_state, loss,
          metrics, grads)


def _generator_loss(state, d_params, outputs, branch_params, real, cameras,
                    latents, config, weights, real_cameras=None):
  """G's non-saturating loss under the updated D, plus the branch's terms.

  A function of the rendered ``outputs`` (whose gradient the pullback turns
  into G's and Q's) and of ``branch_params`` (E1's and Q's direct terms).

  Returns:
    (loss, metrics).
  """
  fakes, renders = outputs
  model = nnx.merge(state.d_graphdef, compute_params(d_params, config))
  disc = lambda images: model(_to_disc(images, config))
  gan = losses.generator_gan_loss(disc(fakes))
  if renders is None:
    return gan, dict(g_gan=gan)
  e1 = None
  if identity_branch.needs_e1(config):
    e1 = nnx.merge(state.e1_graphdef, branch_params["e1"])
  branch = identity_branch.branch_losses(
      renders, real, nnx.merge(state.q_graphdef, branch_params["q"]), fakes,
      cameras, latents, loss_config=config.loss,
      e2=(state.e2_graphdef, state.e2_params), e1=e1, disc=disc,
      real_pose=real_cameras)
  return gan + branch.weighted_sum(weights), dict(g_gan=gan,
                                                  **branch.metrics())


def branch_batch_size(config, batch: int) -> int:
  """Images of a (per-call) batch of ``batch`` that the identity branch reads.

  Raises:
    errors.ConfigError: ``train.branch_batch_size`` is not 0 (all) or an
      even number up to ``batch`` (even: the branch may read pairs).
  """
  size = config.train.get("branch_batch_size", 0)
  if size == 0:
    return batch
  if not isinstance(size, int) or size < 0 or size > batch or size % 2:
    raise errors.ConfigError(
        f"train.branch_batch_size {size!r}: 0 (the whole batch) or an even "
        f"number of images up to the batch size {batch}")
  return size


def train_step(state: train_state_lib.TrainState, batch: dict, rng: jax.Array,
               hparams: dict | None = None, *, config,
               branch: bool = True) -> tuple[train_state_lib.TrainState, dict]:
  """One GAN iteration (plus the identity branch when it is on).

  Args:
    state: the current state.
    batch: dict with ``image`` uint8 [batch, size, size, 3] real images,
      and, for ``loss.real_pose_weight``, their labelled ``yaw`` and
      ``pitch`` float32 [batch].
    rng: the run's base PRNG key; the step is folded in here.
    hparams: {name in ``TRACEABLE``: scalar array} overriding the config's
      values (a sweep member's), or None.
    config: the run config (static).
    branch: False skips the identity branch this step
      (``train.branch_every``): a plain GAN iteration; Q, E1 and their
      optimiser states stay as they are.

  Returns:
    (new_state, metrics) with scalar metrics.
  """
  weights = _loss_weights(config, hparams)
  g_tx, d_tx, branch_tx = state.g_tx, state.d_tx, state.branch_tx
  if hparams:  # the same chains with traced learning rates (stateless part)
    g_tx = optim.make_optimizer(config.optim,
                                _hparam(config, hparams, "optim.g_lr"),
                                config.train.num_steps, config.optim.adam_b1)
    d_tx = optim.make_optimizer(config.optim,
                                _hparam(config, hparams, "optim.d_lr"),
                                config.train.num_steps,
                                config.optim.d_adam_b1)
    branch_tx = optim.make_optimizer(
        config.optim, _hparam(config, hparams, "optim.branch_lr"),
        config.train.num_steps, config.optim.adam_b1)
  ema_decay = _hparam(config, hparams, "optim.ema_decay")

  # Sample.
  key = jax.random.fold_in(rng, state.step)
  k_cam, k_z, k_depth = jax.random.split(key, 3)
  k_branch = jax.random.fold_in(key, 1)
  real = encoders.to_model_range(batch["image"])
  # The real images' labelled cameras, where the data has them and a loss
  # reads them (``input_pipeline.wants_pose_labels``).
  real_cameras = None
  if config.loss.real_pose_weight > 0:
    if "yaw" not in batch:
      raise errors.ConfigError("loss.real_pose_weight needs batches with the "
                               "images' yaw and pitch labels")
    real_cameras = camera_lib.prior_camera(batch["yaw"], batch["pitch"],
                                           config.camera)
  cameras = camera_lib.sample_poses(k_cam, real.shape[0], config.camera)
  latents = generator.sample_latents(k_z, real.shape[0], config.field)
  # The branch reads the batch's first ``train.branch_batch_size`` images
  # (pairs stay whole: the size is even); D and the GAN terms all of them.
  take = branch_batch_size(config, real.shape[0])
  branch_real = real[:take]
  branch_cameras = (None if real_cameras is None else
                    jax.tree.map(lambda x: x[:take], real_cameras))

  # Render, keeping the pullback to G's and Q's parameters.
  branch_params = state.branch_params if branch else None
  outputs, pullback = jax.vjp(
      lambda g, b: _render(state, latents, cameras, branch_real, k_depth,
                           k_branch, config, g, b),
      state.g_params, branch_params)

  fakes, renders = outputs
  shared = config.train.update_order == "d_then_g"
  if shared:  # D update on the shared render; G is then judged by the new D.
    d_params, d_opt_state, d_loss, d_metrics, d_grads = (
        _discriminator_update(state, real, fakes, renders, config, d_tx,
                              weights))
    judge = d_params
  else:
    judge = state.d_params

  # G and branch update.
  (g_loss, g_metrics), (output_grads, branch_direct_grads) = (
      jax.value_and_grad(_generator_loss, argnums=(2, 3), has_aux=True)(
          state, judge, outputs, branch_params, branch_real, cameras,
          latents, config, weights, branch_cameras))
  g_grads, branch_pulled_grads = pullback(output_grads)
  g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state,
                                             state.g_params)
  g_params = optax.apply_updates(state.g_params, g_updates)
  new_state = state.replace(
      step=state.step + 1, g_params=g_params, g_opt_state=g_opt_state,
      # EMA.
      g_ema_params=optim.ema_update(state.g_ema_params, g_params,
                                    ema_decay))
  if not shared:
    # GIRAFFE: D update on fresh fakes from the updated generator.
    k_cam, k_z, k_depth = jax.random.split(jax.random.fold_in(key, 2), 3)
    fresh = nnx.merge(state.g_graphdef, compute_params(g_params, config))(
        generator.sample_latents(k_z, real.shape[0], config.field),
        camera_lib.sample_poses(k_cam, real.shape[0], config.camera),
        k_depth).images * 2.0 - 1.0
    d_params, d_opt_state, d_loss, d_metrics, d_grads = (
        _discriminator_update(state, real, fresh, renders, config, d_tx,
                              weights))
  new_state = new_state.replace(d_params=d_params, d_opt_state=d_opt_state)
  metrics = {}
  if branch_params is not None:
    branch_grads = jax.tree.map(jnp.add, branch_direct_grads,
                                branch_pulled_grads)
    updates, branch_opt_state = branch_tx.update(
        branch_grads, state.branch_opt_state, state.branch_params)
    new_state = new_state.replace(
        branch_params=optax.apply_updates(state.branch_params, updates),
        branch_opt_state=branch_opt_state)
    if state.q_ema_params is not None:
      new_state = new_state.replace(q_ema_params=optim.ema_update(
          state.q_ema_params, new_state.branch_params["q"],
          config.optim.q_ema_decay))
    metrics["branch_grad_norm"] = optax.tree.norm(branch_grads)

  # One flag for the host to check: losses and updated weights all finite
  # (a finite loss can still be followed by an update that overflows).
  finite = jnp.all(jnp.stack(
      [jnp.isfinite(g_loss), jnp.isfinite(d_loss)]
      + [jnp.all(jnp.isfinite(x))
         for x in jax.tree.leaves((new_state.g_params, new_state.d_params,
                                   new_state.branch_params))]))
  metrics.update(
      g_loss=g_loss, d_loss=d_loss, g_grad_norm=optax.tree.norm(g_grads),
      d_grad_norm=optax.tree.norm(d_grads), finite=finite, **d_metrics,
      **g_metrics)
  return new_state, metrics
