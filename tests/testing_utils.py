"""Helpers shared by tests: configs and a small image folder."""

import os
import pathlib
import runpy

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[1]


def subprocess_env(devices: int = 0) -> dict:
  """Environment of a ``jaxface`` subprocess: CPU, the suite's compile flags.

  ``devices`` fake CPU devices; 0 gives one, like a user's machine.
  """
  flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
           if not f.startswith("--xla_force_host_platform_device_count")]
  if devices:
    flags.append(f"--xla_force_host_platform_device_count={devices}")
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=" ".join(flags))
  env.pop("JAX_COORDINATOR_ADDRESS", None)
  return env


def load_config(name: str = "tiny"):
  return runpy.run_path(str(REPO / "configs" / f"{name}.py"))["get_config"]()


def write_image_folder(root, num_images: int = 24, size: int = 24, seed=0):
  """Random-coloured blob images; returns the folder path."""
  root = pathlib.Path(root)
  root.mkdir(parents=True, exist_ok=True)
  rng = np.random.RandomState(seed)
  yy, xx = np.mgrid[:size, :size] / size
  for i in range(num_images):
    cx, cy, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.4)
    blob = ((xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2)[..., None]
    colour, bg = rng.randint(0, 255, 3), rng.randint(0, 255, 3)
    image = np.where(blob, colour, bg).astype(np.uint8)
    Image.fromarray(image).save(root / f"{i:03d}.png")
  return root


def folder_config(folder, **train):
  config = load_config("tiny")
  config.data.name = "image_folder"
  config.data.data_dir = str(folder)
  config.train.update(train)
  return config


def random_module(make_module, seed=0):
  """``make_module()`` with random parameters drawn in numpy.

  Property tests hold for any parameters; filling the abstract module avoids
  compiling the initialisers for every layer shape.
  """
  graphdef, state = nnx.split(nnx.eval_shape(make_module))
  rng = np.random.default_rng(seed)

  def init(leaf):
    if len(leaf.shape) == 1:  # biases
      values = rng.normal(scale=0.1, size=leaf.shape)
    else:  # kernels, [..., in, out]
      values = rng.normal(size=leaf.shape) / np.sqrt(np.prod(leaf.shape[:-1]))
    return jnp.asarray(values, leaf.dtype)

  return nnx.merge(graphdef, jax.tree.map(init, state))


def tiny_identity_config():
  """A small IResNet E2 for 32x32 images."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  return ml_collections.ConfigDict(dict(
      kind="iresnet", layers=(1, 1, 1, 1), width=8, input_size=32,
      embedding_dim=32))


def tiny_identity_encoder(seed=0):
  """(graphdef, state, embedding_dim) of a random tiny E2."""
  from jaxface import identity  # pylint: disable=g-import-not-at-top
  model = identity.make_identity_encoder(tiny_identity_config(),
                                         nnx.Rngs(seed))
  graphdef, state = nnx.split(model)
  return graphdef, state, 32


def write_identity_encoder(directory, seed=0):
  """Saves a random tiny E2 where ``identity.encoder_dir`` can point."""
  from jaxface import identity_import  # pylint: disable=g-import-not-at-top
  _, state, _ = tiny_identity_encoder(seed)
  return identity_import.save_identity_encoder(
      directory, "iresnet", tiny_identity_config(), state)


def branch_config(weight=1.0, encoder_dir=""):
  """The tiny config with every identity-branch weight set to ``weight``."""
  from jaxface import identity_branch  # pylint: disable=g-import-not-at-top
  config = load_config("tiny")
  for name in identity_branch.WEIGHTS:
    # The cross-view terms need batches of pairs (data.pairs), the
    # real-pose term batches with pose labels.
    if not name.startswith(("cross_view", "real_pose")):
      config.loss[name] = weight
  config.identity.encoder_dir = str(encoder_dir)
  return config


def giraffe_tiny_config():
  """celeba64 (GIRAFFE's behaviour in every choice) at test sizes."""
  config = load_config("celeba64")
  config.field.update(hidden=16, num_layers=3, skips=(1,), pos_freqs=3,
                      view_freqs=2, z_shape_dim=8, z_app_dim=8, feature_dim=8,
                      bg_hidden=8, bg_num_layers=2, bg_pos_freqs=3,
                      bg_view_freqs=2, z_bg_shape_dim=4, z_bg_app_dim=4)
  config.render.update(feature_size=8, num_samples=16)
  config.neural_renderer.update(num_features=8, min_features=4)
  config.disc.num_features = 32
  config.data.update(image_size=16, num_workers=0)
  config.train.update(batch_size=8, num_steps=1)
  config.ckpt.update(every_steps=1, async_save=False)
  config.log.update(every_steps=1, images_every_steps=0, num_sample_faces=2,
                    num_sample_views=2, progress_bar=False,
                    eval_every_steps=0)
  return config
