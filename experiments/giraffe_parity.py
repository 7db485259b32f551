"""jaxface against the official GIRAFFE, on the official code's own outputs.

``experiments/giraffe_reference.py`` (run in a PyTorch venv with a GIRAFFE
checkout) writes an official checkpoint of random weights and what the
official code computes from it. This script, in jaxface's venv, imports
that checkpoint and computes the same things with jaxface, printing one JSON
line per comparison (max absolute differences):

* ``render``: ``jaxface import-giraffe`` then ``jaxface render --codes
  --poses``, against the official ``generator_test`` (evaluation mode, the
  same codes, object rotations and camera elevations, identity background
  rotation) at 9 poses across the prior, on the [0, 1] RGB image;
* ``render_generator``: the non-averaged generator at the middle pose;
* ``discriminator``: D's logits and GIRAFFE's R1 term on two images;
* ``train_step``: one official iteration (G step, EMA, D step on fresh
  fakes, RMSprop; the generator made deterministic) against jaxface's
  losses, R1, optimisers and EMA on the same inputs: the parameters after
  the step.

  python experiments/giraffe_parity.py --reference /tmp/giraffe_ref
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import giraffe_import
from jaxface import losses
from jaxface import optim
from jaxface import structs
from jaxface import train_state as train_state_lib

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "celeba64.py"


def load_config():
  import runpy  # pylint: disable=g-import-not-at-top
  return runpy.run_path(str(CONFIG))["get_config"]()


def poses_of(reference) -> list[dict]:
  """The reference's rotation and elevation fractions as yaw/pitch degrees."""
  low, high = reference["rotation_range"]
  rotation = low + reference["rot_frac"] * (high - low)
  pitch = 90.0 - np.degrees(np.arccos(1.0 - 2.0 * reference["elev_v"]))
  return [dict(yaw_deg=float(360.0 * (r - 0.5)), pitch_deg=float(p))
          for r, p in zip(rotation, pitch)]


def latents_of(reference, batch=None) -> structs.Latents:
  take = slice(None) if batch is None else slice(0, batch)
  return structs.Latents(
      jnp.asarray(reference["z_shape_obj"][take, 0]),
      jnp.asarray(reference["z_app_obj"][take, 0]),
      jnp.asarray(reference["z_shape_bg"][take]),
      jnp.asarray(reference["z_app_bg"][take]))


def render_parity(ref_dir: pathlib.Path, tmp: pathlib.Path) -> dict:
  """The command line, end to end: import-giraffe, render --codes --poses."""
  reference = np.load(ref_dir / "render_poses.npz")
  np.savez(tmp / "codes.npz", z_shape=reference["z_shape_obj"][:, 0],
           z_app=reference["z_app_obj"][:, 0],
           z_bg_shape=reference["z_shape_bg"],
           z_bg_app=reference["z_app_bg"])
  (tmp / "poses.json").write_text(json.dumps(poses_of(reference)))
  jaxface = [sys.executable, "-m", "jaxface.main"]
  for args in (["import-giraffe", str(ref_dir / "model.pt"),
                f"--config={CONFIG}", "--workdir", str(tmp / "run")],
               ["render", "--workdir", str(tmp / "run"), "--codes",
                str(tmp / "codes.npz"), "--poses", str(tmp / "poses.json"),
                "--out", str(tmp / "out")]):
    subprocess.run(jaxface + args, check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)
  ours = np.load(tmp / "out" / "images.npy")  # [codes, poses, h, w, 3]
  official = reference["rgb"].transpose(1, 0, 3, 4, 2)
  diff = np.abs(ours - official)
  return dict(comparison="render", codes=ours.shape[0], poses=ours.shape[1],
              max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
              max_abs_diff_per_pose=[float(d) for d in diff.max((0, 2, 3, 4))],
              poses_deg=poses_of(reference))


def _imported(ref_dir, config, state_dict=None):
  template = jax.eval_shape(
      lambda: train_state_lib.create_train_state(config))
  if state_dict is None:
    state_dict = giraffe_import.load_state_dict(ref_dir / "model.pt")["model"]
  return template, giraffe_import.import_state(state_dict, config, template)


def _camera(reference, pose, batch, config):
  yaw = np.deg2rad(poses_of(reference)[pose]["yaw_deg"])
  pitch = np.deg2rad(poses_of(reference)[pose]["pitch_deg"])
  return camera_lib.prior_camera(jnp.full((batch,), yaw, jnp.float32),
                                 jnp.float32(pitch), config.camera)


def generator_parity(ref_dir, config) -> dict:
  reference = np.load(ref_dir / "render_poses.npz")
  official = np.load(ref_dir / "render_generator.npz")
  template, trees = _imported(ref_dir, config)
  model = nnx.merge(template.g_graphdef, trees["g_params"])
  batch = reference["z_shape_obj"].shape[0]
  images = model(latents_of(reference), _camera(reference, 4, batch, config))
  rgb = [official[k] for k in official.files if "rgb" in k][0]
  diff = np.abs(np.asarray(images.images) - rgb.transpose(0, 2, 3, 1))
  return dict(comparison="render_generator", max_abs_diff=float(diff.max()))


def discriminator_parity(ref_dir, config) -> dict:
  official = np.load(ref_dir / "disc_losses.npz")
  template, trees = _imported(ref_dir, config)
  disc = nnx.merge(template.d_graphdef, trees["d_params"])
  real = jnp.asarray(official["x_real"].transpose(0, 2, 3, 1))
  fake = jnp.asarray(official["x_fake"].transpose(0, 2, 3, 1))
  r1, real_logits = losses.r1_penalty(disc, real)
  return dict(
      comparison="discriminator",
      max_abs_diff_logits=float(max(
          np.abs(np.asarray(real_logits) - official["d_real"][:, 0]).max(),
          np.abs(np.asarray(disc(fake)) - official["d_fake"][:, 0]).max())),
      r1_term=float(config.loss.r1_weight * r1),
      official_r1_term=float(official["reg"]))


def train_step_parity(ref_dir, config) -> dict:
  """One iteration of GIRAFFE's order with jaxface's pieces, fixed inputs."""
  reference = np.load(ref_dir / "render_poses.npz")
  official = np.load(ref_dir / "train_step.npz")
  template, trees = _imported(ref_dir, config)
  real = jnp.asarray(official["x_real"].transpose(0, 2, 3, 1))
  batch = real.shape[0]
  latents = latents_of(reference, batch)
  cams = _camera(reference, 4, batch, config)
  g_tx = optim.make_optimizer(config.optim, config.optim.g_lr)
  d_tx = optim.make_optimizer(config.optim, config.optim.d_lr)

  def render(g_params):  # the official step bound G to these inputs
    return nnx.merge(template.g_graphdef, g_params)(latents, cams).images

  def d_of(d_params):
    return nnx.merge(template.d_graphdef, d_params)

  g_loss, g_grads = jax.value_and_grad(lambda g: losses.generator_gan_loss(
      d_of(trees["d_params"])(render(g))))(trees["g_params"])
  updates, _ = g_tx.update(g_grads, g_tx.init(trees["g_params"]),
                           trees["g_params"])
  g_params = optax.apply_updates(trees["g_params"], updates)
  ema = optim.ema_update(trees["g_ema_params"], g_params,
                         config.optim.ema_decay)
  fresh = render(g_params)

  def d_loss_fn(d_params):
    r1, real_logits = losses.r1_penalty(d_of(d_params), real)
    fake_logits = d_of(d_params)(jax.lax.stop_gradient(fresh))
    return (losses.discriminator_gan_loss(real_logits, fake_logits)
            + config.loss.r1_weight * r1)

  d_grads = jax.grad(d_loss_fn)(trees["d_params"])
  updates, _ = d_tx.update(d_grads, d_tx.init(trees["d_params"]),
                           trees["d_params"])
  d_params = optax.apply_updates(trees["d_params"], updates)
  after = _official_trees(ref_dir, config, official, "after/")
  grads = _official_trees(ref_dir, config, official, "grad/")
  diff = lambda a, b: float(max(jax.tree.leaves(jax.tree.map(
      lambda x, y: np.abs(np.asarray(x) - np.asarray(y)).max(), a, b))))
  size = lambda a: float(max(np.abs(np.asarray(x)).max()
                             for x in jax.tree.leaves(a)))
  # RMSprop's first step is lr * g / (|g| / 10): the sign of each gradient
  # entry, so an entry whose gradient is at float noise can step either way.
  # Count the steps whose direction differs, and how small their gradients
  # are.
  flips, entries, largest = 0, 0, 0.0
  for ours, theirs in ((g_grads, grads["g_params"]),
                       (d_grads, grads["d_params"])):
    for x, y in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
      x, y = np.asarray(x), np.asarray(y)
      flipped = np.sign(x) != np.sign(y)
      flips += int(flipped.sum())
      entries += x.size
      if flipped.any():
        largest = max(largest, float(np.abs(y[flipped]).max()
                                     / np.abs(y).max()))
  return dict(
      comparison="train_step",
      g_loss=float(g_loss), official_g_loss=float(official["loss/generator"]),
      max_abs_diff_generator_grads=diff(g_grads, grads["g_params"]),
      max_abs_generator_grads=size(grads["g_params"]),
      max_abs_diff_discriminator_grads=diff(d_grads, grads["d_params"]),
      max_abs_discriminator_grads=size(grads["d_params"]),
      update_direction_flips=f"{flips} of {entries}",
      flipped_grad_at_most=f"{largest:.2g} of the tensor's largest",
      max_abs_diff_generator=diff(g_params, after["g_params"]),
      max_abs_diff_ema=diff(ema, after["g_ema_params"]),
      max_abs_diff_discriminator=diff(d_params, after["d_params"]),
      max_update_generator=diff(g_params, trees["g_params"]),
      max_update_discriminator=diff(d_params, trees["d_params"]))


def _official_trees(ref_dir, config, official, prefix: str) -> dict:
  """Official ``prefix``-ed state-dict entries in jaxface's trees.

  ``grad/`` holds the G step's generator gradients and the D step's
  discriminator gradients; the EMA copy has none, so the generator's stand
  in for it (unused).
  """
  state = {k[len(prefix):]: official[k] for k in official.files
           if k.startswith(prefix)}
  for key in list(state):
    if key.startswith("generator.") and prefix == "grad/":
      state["generator_test." + key[len("generator."):]] = state[key]
  for name in ("generator", "generator_test"):
    state.setdefault(f"{name}.neural_renderer.upsample_rgb.1.f",
                     np.array([1.0, 2.0, 1.0], np.float32))
  return _imported(ref_dir, config, state)[1]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--reference", required=True, type=pathlib.Path,
                      help="output directory of giraffe_reference.py")
  args = parser.parse_args()
  config = load_config()
  with tempfile.TemporaryDirectory() as tmp:
    print(json.dumps(render_parity(args.reference, pathlib.Path(tmp))))
  print(json.dumps(generator_parity(args.reference, config)))
  print(json.dumps(discriminator_parity(args.reference, config)))
  print(json.dumps(train_step_parity(args.reference, config)))


if __name__ == "__main__":
  main()
