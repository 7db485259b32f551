"""Imports public PyTorch face-recognition checkpoints as E2 parameters.

Supported: LightCNN-29 v2 (``LightCNN_29Layers_V2_checkpoint.pth.tar`` of
AlfredXiangWu/LightCNN) and ArcFace IResNet-50/100 (insightface's
arcface_torch ``backbone.pth``), as ``.pth``/``.pt`` or ``.safetensors``.
PyTorch checkpoints are read with ``torch.load(weights_only=True)``, which
refuses arbitrary pickled objects. torch is imported only inside the
functions that read such files, so importing this module does not need it.

The Flax modules in ``jaxface.identity`` use PyTorch's attribute names, so a
parameter's NNX path names its checkpoint key: ``('layer1', 0, 'bn1',
'scale')`` is ``layer1.0.bn1.weight``. Every checkpoint tensor must be used and
every parameter found; anything else is a ``ValueError`` naming the key.
"""

import json
import pathlib
import pickle
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from jaxface import identity
from jaxface import layers

# NNX leaf name -> PyTorch tensor name.
_LEAF_NAMES = {
    "kernel": "weight",
    "bias": "bias",
    "scale": "weight",
    "mean": "running_mean",
    "var": "running_var",
    "weight": "weight",
}
# BatchNorm step counters: training bookkeeping, not used at inference.
_IGNORED_SUFFIXES = ("num_batches_tracked",)
_CONFIG_FILE = "identity_config.json"
_STATE_DIR = "state"


def _to_numpy(key: str, tensor) -> np.ndarray:
  if isinstance(tensor, np.ndarray):
    return tensor
  if not hasattr(tensor, "detach"):
    raise ValueError(f"checkpoint entry {key!r} is a {type(tensor).__name__}, "
                     "not a tensor")
  return tensor.detach().cpu().float().numpy()


def _first_line(error: Exception) -> str:
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__


def load_torch_state_dict(path) -> dict[str, np.ndarray]:
  """Reads a PyTorch checkpoint as {key: float32 array}.

  Args:
    path: a ``.safetensors`` file, or a ``.pt``/``.pth``/``.tar`` file written
      by ``torch.save``. A ``{"state_dict": ...}`` wrapper (LightCNN's
      training checkpoints) is unwrapped and a ``module.`` prefix (from
      ``DataParallel``) is stripped.

  Returns:
    The tensors, in PyTorch layout (OIHW conv kernels, [out, in] linear).
  """
  path = pathlib.Path(path)
  if not path.exists():
    raise FileNotFoundError(f"no checkpoint at {path}")
  if path.suffix == ".safetensors":
    try:
      import safetensors.numpy  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ImportError(
          f"reading {path} needs the safetensors package: "
          "pip install safetensors") from e
    try:
      state_dict = safetensors.numpy.load_file(str(path))
    except Exception as e:  # safetensors raises its own error types
      raise ValueError(f"{path} is not a readable safetensors file: "
                       f"{_first_line(e)}") from e
  else:
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ImportError(
          f"reading {path} needs PyTorch: pip install 'jaxface[torch]'") from e
    # weights_only refuses pickled code: a checkpoint is data, never executed.
    try:
      state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
      raise ValueError(
          f"{path} is corrupt or holds pickled objects, not only tensors "
          "(pickled code is never run)") from e
    except Exception as e:  # torch raises zip and runtime errors too
      raise ValueError(f"{path} is not a readable PyTorch weights file: "
                       f"{_first_line(e)}") from e
  if isinstance(state_dict, dict) and "state_dict" in state_dict:
    state_dict = state_dict["state_dict"]
  if not isinstance(state_dict, dict):
    raise ValueError(f"{path} holds a {type(state_dict).__name__}, not a "
                     "state dict")
  result = {}
  for key, tensor in state_dict.items():
    name = key[len("module."):] if key.startswith("module.") else key
    result[name] = _to_numpy(key, tensor).astype(np.float32)
  return result


def _torch_key(path: tuple) -> str:
  *parents, leaf = path
  return ".".join([str(p) for p in parents] + [_LEAF_NAMES[leaf]])


def _convert(value: np.ndarray, target_shape: tuple, flatten_chw) -> jax.Array:
  """PyTorch layout -> NNX layout for one tensor.

  Args:
    value: conv kernel [o, i, kh, kw], linear weight [out, in] or vector.
    target_shape: the NNX shape.
    flatten_chw: (c, h, w) when the linear layer follows a flatten of a
      [c, h, w] feature map, whose input order differs between layouts.

  Returns:
    The array in NNX layout: conv [kh, kw, i, o], linear [in, out].
  """
  if value.ndim == 4:
    value = value.transpose(2, 3, 1, 0)
  elif value.ndim == 2:
    if flatten_chw is not None:
      c, h, w = flatten_chw
      value = value.reshape(-1, c, h, w).transpose(0, 2, 3, 1)
      value = value.reshape(value.shape[0], -1)
    value = value.T
  if value.shape != tuple(target_shape):
    raise ValueError("shape mismatch")
  return jnp.asarray(value)


def import_state(model: nnx.Module, state_dict: dict[str, np.ndarray], *,
                 flatten: dict[str, tuple[int, int, int]] | None = None,
                 ignore: tuple[str, ...] = ()) -> nnx.State:
  """Fills the state of ``model`` (abstract or concrete) from a state dict.

  Args:
    model: an E2 module whose attribute names follow the PyTorch network.
    state_dict: {torch key: array} from ``load_torch_state_dict``.
    flatten: {linear layer prefix: (c, h, w)} for layers after a flatten.
    ignore: checkpoint keys not used by the embedding (e.g. a classifier).

  Returns:
    The NNX state of ``model``, every leaf taken from ``state_dict``.

  Raises:
    ValueError: naming a key that is missing, unused or of the wrong shape.
  """
  flatten = flatten or {}
  _, state = nnx.split(model)
  expected = set()
  leaves = []
  for path, variable in nnx.to_flat_state(state):
    key = _torch_key(path)
    expected.add(key)
    if key not in state_dict:
      raise ValueError(
          f"checkpoint has no tensor {key!r} (needed for "
          f"{'/'.join(map(str, path))}); is it a {type(model).__name__}?")
    prefix = key.rsplit(".", 1)[0]
    try:
      value = _convert(state_dict[key], variable.shape, flatten.get(prefix))
    except ValueError:
      raise ValueError(
          f"checkpoint tensor {key!r} has shape "
          f"{tuple(state_dict[key].shape)}, which does not fit "
          f"{type(model).__name__} parameter of shape {variable.shape}"
      ) from None
    leaves.append((path, variable.replace(value)))
  unused = sorted(
      k for k in state_dict
      if k not in expected and k not in ignore
      and not k.endswith(_IGNORED_SUFFIXES))
  if unused:
    raise ValueError(
        f"checkpoint tensor {unused[0]!r} (and {len(unused) - 1} more) has no "
        f"place in {type(model).__name__}; wrong architecture or depth?")
  return nnx.from_flat_state(leaves)


def abstract_encoder(config: ml_collections.ConfigDict) -> nnx.Module:
  """The E2 module ``config`` describes, with shapes but no values."""
  return nnx.eval_shape(lambda: identity.make_identity_encoder(config))


def lightcnn29v2_config() -> ml_collections.ConfigDict:
  return identity.default_config("lightcnn29v2")


def iresnet_config(depth: int = 50, *, layers=(), width: int = 64,
                   input_size: int = 112) -> ml_collections.ConfigDict:
  config = identity.default_config("iresnet")
  config.depth = depth
  config.layers = tuple(layers)
  config.width = width
  config.input_size = input_size
  return config


def import_lightcnn29v2(state_dict: dict[str, np.ndarray]) -> nnx.State:
  """NNX state of ``identity.LightCNN29v2()`` from the public checkpoint.

  The classifier ``fc2`` is dropped: E2's embedding is the ``fc`` output.
  """
  model = abstract_encoder(lightcnn29v2_config())
  return import_state(model, state_dict, flatten={"fc": (128, 8, 8)},
                      ignore=("fc2.weight", "fc2.bias"))


def import_iresnet(state_dict: dict[str, np.ndarray], depth: int = 50, *,
                   layers=(), width: int = 64,
                   input_size: int = 112) -> nnx.State:
  """NNX state of an ``identity.IResNet`` from an arcface_torch checkpoint.

  Args:
    state_dict: from ``load_torch_state_dict``.
    depth: 50 or 100 for the public models (18 and 34 also exist).
    layers: blocks per stage, overriding ``depth`` (reduced test networks).
    width: base channels (64 in the public models).
    input_size: input side (112 in the public models).

  Returns:
    The NNX state of the network ``iresnet_config(...)`` describes.
  """
  config = iresnet_config(depth, layers=layers, width=width,
                          input_size=input_size)
  model = abstract_encoder(config)
  side = input_size // 16
  return import_state(model, state_dict,
                      flatten={"fc": (width * 8, side, side)})


def save_identity_encoder(directory, kind: str,
                          config: ml_collections.ConfigDict,
                          state: nnx.State) -> pathlib.Path:
  """Writes a frozen E2: ``identity_config.json`` and an orbax ``state/``.

  Args:
    directory: created if needed; must not already hold ``state/``.
    kind: the architecture, e.g. ``lightcnn29v2`` (stored as ``config.kind``).
    config: the identity config section the state belongs to.
    state: the module's NNX state.

  Returns:
    The directory, absolute.
  """
  directory = pathlib.Path(directory).absolute()
  directory.mkdir(parents=True, exist_ok=True)
  config = ml_collections.ConfigDict(config.to_dict())
  config.kind = kind
  # Check the state fits before writing anything.
  _, expected = nnx.split(abstract_encoder(config))
  shapes = lambda tree: jax.tree.map(lambda x: tuple(x.shape),
                                     nnx.to_pure_dict(tree))
  if shapes(expected) != shapes(state):
    raise ValueError(f"state does not belong to a {kind} with this config")
  checkpointer = ocp.Checkpointer(ocp.StandardCheckpointHandler())
  checkpointer.save(directory / _STATE_DIR,
                    args=ocp.args.StandardSave(nnx.to_pure_dict(state)))
  config_json = json.dumps(config.to_dict(), indent=2, sort_keys=True)
  (directory / _CONFIG_FILE).write_text(config_json + "\n")
  return directory


def load_identity_encoder(
    directory) -> tuple[nnx.GraphDef, nnx.State, ml_collections.ConfigDict]:
  """Reads what ``save_identity_encoder`` wrote.

  Returns:
    (graphdef, state, config): ``identity.embed(graphdef, state, images)``
    embeds images; ``nnx.merge(graphdef, state)`` gives the module.
  """
  directory = pathlib.Path(directory).absolute()
  config_path = directory / _CONFIG_FILE
  if not config_path.exists():
    raise FileNotFoundError(f"no identity encoder at {directory} (no "
                            f"{_CONFIG_FILE})")
  # JSON has no tuples; the config's sequences (layers) were tuples.
  config = ml_collections.ConfigDict({
      k: tuple(v) if isinstance(v, list) else v
      for k, v in json.loads(config_path.read_text()).items()})
  graphdef, abstract = nnx.split(abstract_encoder(config))
  # Onto this process's first device, whatever devices wrote it: without a
  # target sharding orbax takes the saved one, which names devices another
  # machine had (an E2 pretrained on a CPU, read on a GPU).
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
      nnx.to_pure_dict(abstract))
  checkpointer = ocp.Checkpointer(ocp.StandardCheckpointHandler())
  restored = checkpointer.restore(directory / _STATE_DIR,
                                  args=ocp.args.StandardRestore(target))
  nnx.replace_by_pure_dict(abstract, restored)
  return graphdef, abstract, config


def convert(arch: str, checkpoint_path, out_dir) -> dict[str, Any]:
  """Converts a public checkpoint into a jaxface E2 directory.

  Args:
    arch: ``lightcnn29v2``, ``iresnet50`` or ``iresnet100``.
    checkpoint_path: the PyTorch (or safetensors) file.
    out_dir: where ``save_identity_encoder`` writes.

  Returns:
    A summary: arch, kind, out_dir, number of tensors read and of
    parameters written, embedding size.
  """
  state_dict = load_torch_state_dict(checkpoint_path)
  if arch == "lightcnn29v2":
    config = lightcnn29v2_config()
    state = import_lightcnn29v2(state_dict)
  elif arch in ("iresnet50", "iresnet100"):
    depth = int(arch[len("iresnet"):])
    config = iresnet_config(depth)
    state = import_iresnet(state_dict, depth)
  else:
    raise ValueError(f"unknown arch {arch!r}; one of lightcnn29v2, iresnet50, "
                     "iresnet100")
  out = save_identity_encoder(out_dir, config.kind, config, state)
  return dict(arch=arch, kind=config.kind, out_dir=str(out),
              tensors_read=len(state_dict),
              parameters=layers.count_params(state),
              embedding_dim=config.embedding_dim)
