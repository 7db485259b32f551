"""Imports checkpoints written by the official GIRAFFE into jaxface runs.

The official training code (autonomousvision/giraffe) saves ``model.pt``
with ``torch.save``; its ``model`` entry is the state dict of the whole
model: ``generator.*`` (the trained generator), ``generator_test.*`` (its
exponential moving average, which GIRAFFE renders with) and
``discriminator.*``. The file is read with ``torch.load(weights_only=True)``
only, so no pickled code runs; PyTorch is needed for this command alone.

Names map one-to-one (``_FIELD_NAMES``): the object decoder is
``Generator.field``, the background decoder ``Generator.background``, the
neural renderer's ``conv_layers``/``conv_rgb`` are ``blocks``/``to_rgb``.
PyTorch's linear weights are [out, in] and conv weights OIHW; jaxface's are
[in, out] and HWIO. GIRAFFE's positional encoding orders sines and cosines
per octave, jaxface's all sines first (``field.positional_encoding``): the
input rows of the layers that read an encoding are permuted to match.

The object count is not in the state dict (GIRAFFE's objects share one
decoder), so a multi-object checkpoint imports as its shared decoder;
jaxface renders one object.
"""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from jaxface import checkpoint as checkpoint_lib
from jaxface import errors
from jaxface import files
from jaxface import sharding
from jaxface import train_state as train_state_lib
from jaxface import workdir as workdir_lib

# jaxface FeatureField attribute -> GIRAFFE Decoder attribute.
_FIELD_NAMES = {
    "fc_pos": "fc_in", "fc_shape": "fc_z", "blocks": "blocks",
    "skip_shape": "fc_z_skips", "skip_pos": "fc_p_skips",
    "density_out": "sigma_out", "fc_app": "fc_z_view",
    "feature_view": "feat_view", "fc_view": "fc_view",
    "feature_out": "feat_out",
}
_RENDERER_NAMES = {"blocks": "conv_layers", "to_rgb": "conv_rgb",
                   "conv_in": "conv_in"}
_MODULE_NAMES = {"field": "decoder", "background": "background_generator",
                 "renderer": "neural_renderer"}
# Layers whose input is a positional encoding: (module, attribute).
_ENCODED_INPUTS = {("field", "fc_pos"), ("field", "skip_pos"),
                   ("background", "fc_pos"), ("background", "skip_pos")}
_VIEW_INPUTS = {("field", "fc_view"), ("background", "fc_view")}
# GIRAFFE's blur kernel, a buffer of its neural renderer.
_BLUR_KEY = "neural_renderer.upsample_rgb.1.f"
_BLUR = (1.0, 2.0, 1.0)
# Rendering choices an imported checkpoint must be rendered with to give
# GIRAFFE's images: {(section, key): value}.
GIRAFFE_BEHAVIOUR = {
    ("field", "kind"): "mlp",
    ("field", "frame"): "giraffe",
    ("field", "downscale"): 2.0,
    ("field", "background"): "volume",
    ("field", "bg_downscale"): 12.0,
    ("render", "yaw"): "object",
    ("render", "depth_sampling"): "giraffe",
    ("render", "pixel_grid"): "edges",
    ("render", "sample_in_box"): False,
    ("render", "density_activation"): "relu",
    ("neural_renderer", "blur"): True,
    ("disc", "kind"): "dcgan",
    ("disc", "use_bias"): False,
}


def encoding_permutation(num_freqs: int, dims: int = 3) -> np.ndarray:
  """Index of each jaxface encoding entry in GIRAFFE's encoding.

  jaxface: ``[sin(2^k pi x_d)]_{k,d}`` then ``[cos ...]_{k,d}`` (octave-
  major); GIRAFFE: per octave ``[sin x_d]_d`` then ``[cos x_d]_d``.

  Returns:
    int [2 * num_freqs * dims]: ``giraffe[perm] == jaxface``.
  """
  part, octave, axis = np.meshgrid(np.arange(2), np.arange(num_freqs),
                                   np.arange(dims), indexing="ij")
  return (octave * 2 * dims + part * dims + axis).reshape(-1)


def load_state_dict(path) -> dict:
  """The official checkpoint's ``model`` state dict, tensors as numpy.

  Also returns GIRAFFE's iteration count under ``"it"`` (None if absent).

  Raises:
    errors.CheckpointError: unreadable, not a GIRAFFE checkpoint, or
      PyTorch missing.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise errors.CheckpointError(f"no GIRAFFE checkpoint at {path}")
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise errors.CheckpointError(
        "import-giraffe reads PyTorch files: pip install -e '.[torch]'") from e
  try:
    saved = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # torch raises many types for a corrupt file
    first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
    raise errors.CheckpointError(
        f"cannot read {path} as a PyTorch checkpoint: {first}") from e
  if not isinstance(saved, dict) or not isinstance(saved.get("model"), dict):
    raise errors.CheckpointError(
        f"{path} is not a GIRAFFE checkpoint (no 'model' state dict)")
  state = {}
  for key, value in saved["model"].items():
    if not hasattr(value, "detach"):
      raise errors.CheckpointError(
          f"{path}: model entry {key!r} is a {type(value).__name__}, not a "
          f"tensor")
    state[key] = value.detach().cpu().float().numpy()
  it = saved.get("it")
  return dict(model=state, it=None if it is None else int(it))


def _torch_key(prefix: str, path: tuple) -> str:
  """The official key of a jaxface parameter path (``.weight``/``.bias``)."""
  names = [str(getattr(p, "key", getattr(p, "idx", p))) for p in path]
  leaf = {"kernel": "weight", "bias": "bias"}[names[-1]]
  if prefix == "discriminator":
    return ".".join([prefix, *names[:-1], leaf])
  module, attribute, *rest = names[:-1]
  table = _RENDERER_NAMES if module == "renderer" else _FIELD_NAMES
  return ".".join([prefix, _MODULE_NAMES[module], table[attribute], *rest,
                   leaf])


def _convert(value: np.ndarray, target_shape: tuple, path: tuple, key: str,
             view_freqs: dict, pos_freqs: dict) -> np.ndarray:
  """A PyTorch tensor in jaxface's layout (checked against ``target_shape``)."""
  names = [str(getattr(p, "key", getattr(p, "idx", p))) for p in path]
  if value.ndim == 4:  # conv OIHW -> HWIO
    value = value.transpose(2, 3, 1, 0)
  elif value.ndim == 2:  # linear [out, in] -> [in, out]
    value = value.T
    where = (names[0], names[1]) if len(names) > 2 else None
    if where in _ENCODED_INPUTS:
      value = value[encoding_permutation(pos_freqs[names[0]])]
    elif where in _VIEW_INPUTS:
      value = value[encoding_permutation(view_freqs[names[0]])]
  if value.shape != tuple(target_shape):
    raise errors.CheckpointError(
        f"GIRAFFE key {key} has shape {tuple(value.shape)}, the config's "
        f"model needs {tuple(target_shape)} there")
  return value


def _import_tree(state: dict, prefix: str, target, config, used: set):
  """jaxface parameters (a pure dict like ``target``) from ``state``."""
  fc = config.field
  pos_freqs = dict(field=fc.pos_freqs, background=fc.bg_pos_freqs)
  view_freqs = dict(field=fc.view_freqs, background=fc.bg_view_freqs)

  def one(path, leaf):
    key = _torch_key(prefix, path)
    if key not in state:
      raise errors.CheckpointError(
          f"GIRAFFE key {key} is missing from the checkpoint")
    used.add(key)
    return jnp.asarray(_convert(state[key], leaf.shape, path, key, view_freqs,
                                pos_freqs))

  return jax.tree_util.tree_map_with_path(one, target)


def _check_behaviour(config):
  for (section, key), value in GIRAFFE_BEHAVIOUR.items():
    have = config[section][key]
    if have != value:
      raise errors.ConfigError(
          f"GIRAFFE's weights render GIRAFFE's images only with "
          f"{section}.{key}={value!r}; the config has {have!r}")


def _check_resolution(state: dict, config):
  """One-line errors for a checkpoint made for other image sizes."""
  blocks = sum(1 for k in state
               if k.startswith("generator.neural_renderer.conv_layers.")
               and k.endswith(".weight"))
  renders = config.render.feature_size * 2 ** blocks
  if blocks and renders != config.data.image_size:
    raise errors.CheckpointError(
        f"the checkpoint's neural renderer has {blocks} upsampling blocks "
        f"({renders}x{renders} images from {config.render.feature_size}x"
        f"{config.render.feature_size} features); the config makes "
        f"{config.data.image_size}x{config.data.image_size}")
  layers = sum(1 for k in state if k.startswith("discriminator.blocks."))
  if layers and 4 * 2 ** layers != config.data.image_size:
    raise errors.CheckpointError(
        f"the checkpoint's discriminator reads {4 * 2 ** layers}x"
        f"{4 * 2 ** layers} images; the config makes "
        f"{config.data.image_size}x{config.data.image_size}")


def import_state(state: dict, config, template):
  """GIRAFFE's generator, EMA generator and discriminator as jaxface trees.

  Args:
    state: the official ``model`` state dict (numpy arrays).
    config: a jaxface config with ``GIRAFFE_BEHAVIOUR``.
    template: a ``TrainState`` (or its shapes) giving the target trees.

  Returns:
    {"g_params", "g_ema_params", "d_params"}.

  Raises:
    errors.ConfigError: the config does not render as GIRAFFE does.
    errors.CheckpointError: a missing, unused or wrong-shape key, or a
      checkpoint of another resolution.
  """
  _check_behaviour(config)
  _check_resolution(state, config)
  used = set()
  trees = dict(
      g_params=_import_tree(state, "generator", template.g_params, config,
                            used),
      g_ema_params=_import_tree(state, "generator_test",
                                template.g_ema_params, config, used),
      d_params=_import_tree(state, "discriminator", template.d_params,
                            config, used))
  for prefix in ("generator", "generator_test"):
    blur = state.get(f"{prefix}.{_BLUR_KEY}")
    if blur is None:
      raise errors.CheckpointError(
          f"GIRAFFE key {prefix}.{_BLUR_KEY} (the blur kernel) is missing "
          f"from the checkpoint")
    if not np.allclose(blur, _BLUR):
      raise errors.CheckpointError(
          f"GIRAFFE key {prefix}.{_BLUR_KEY} is {blur.tolist()}, not the "
          f"blur {list(_BLUR)} jaxface renders with")
    used.add(f"{prefix}.{_BLUR_KEY}")
  unused = sorted(set(state) - used)
  if unused:
    raise errors.CheckpointError(
        f"GIRAFFE key {unused[0]} has no place in the config's model "
        f"({len(unused)} unused keys)")
  return trees


def import_checkpoint(checkpoint, config, workdir) -> dict:
  """``jaxface import-giraffe``: an official checkpoint as a jaxface run.

  Writes ``workdir`` as training would: ``config.json``, a checkpoint at
  step 0 holding GIRAFFE's generator, EMA generator and discriminator (the
  optimiser states start afresh), and ``imported_from.json``. ``render``,
  ``export-mesh``, ``reconstruct``'s generator and ``train`` (fine-tuning)
  then read it like any run.

  Args:
    checkpoint: the official ``model.pt``.
    config: the jaxface config to render and train it with (GIRAFFE's
      behaviour, e.g. ``configs/celeba64.py``).
    workdir: the run directory to write; must hold no checkpoint yet.

  Returns:
    A summary: workdir, GIRAFFE iteration, parameter counts.
  """
  workdir = pathlib.Path(workdir)
  ckpt_dir = workdir / workdir_lib.CHECKPOINT_DIR
  if ckpt_dir.is_dir() and any(ckpt_dir.iterdir()):
    raise errors.CheckpointError(
        f"{workdir} already holds checkpoints; import into a new workdir")
  saved = load_state_dict(checkpoint)
  mesh = sharding.make_mesh(config)
  e2 = workdir_lib.identity_encoder(config, workdir, training=True)
  template = jax.eval_shape(
      lambda: train_state_lib.create_train_state(config, e2))
  trees = import_state(saved["model"], config, template)
  state = train_state_lib.create_train_state(config, e2).replace(**trees)
  state = state.replace(g_opt_state=state.g_tx.init(state.g_params),
                        d_opt_state=state.d_tx.init(state.d_params))
  state = jax.device_put(state, sharding.replicated(mesh))
  workdir.mkdir(parents=True, exist_ok=True)
  ckpt = checkpoint_lib.Checkpointer(ckpt_dir, config.ckpt)
  ckpt.save(0, state, force=True)
  ckpt.wait_until_finished()
  ckpt.close()
  summary = dict(
      workdir=str(workdir), source=str(pathlib.Path(checkpoint).absolute()),
      giraffe_iteration=saved["it"],
      g_params=int(sum(np.size(x) for x in jax.tree.leaves(trees["g_params"]))),
      d_params=int(sum(np.size(x) for x in jax.tree.leaves(trees["d_params"]))))
  if jax.process_index() == 0:
    workdir_lib.write_config(config, workdir)
    files.write_atomic(workdir / "imported_from.json",
                       (json.dumps(summary, indent=2) + "\n").encode())
  return summary
