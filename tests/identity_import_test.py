"""Tests for the PyTorch checkpoint importers (jaxface.identity_import).

The reference networks below are written from the published architectures
(LightCNN-29 v2, arcface_torch IResNet) as plain ``torch.nn.Module``s with the
public attribute names, so their state dicts have the public checkpoints'
keys. Random weights and random BatchNorm statistics make every imported
tensor matter for the comparison.
"""

import importlib.util
import pathlib
import subprocess
import sys
import unittest

from absl.testing import absltest
from absl.testing import parameterized
import jax
from flax import nnx
import numpy as np

from jaxface import identity
from jaxface import identity_import

_HAS_TORCH = importlib.util.find_spec("torch") is not None

if _HAS_TORCH:
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top

  class TorchMFM(nn.Module):

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1,
                 padding=1):
      super().__init__()
      self.out_channels = out_channels
      self.filter = nn.Conv2d(in_channels, 2 * out_channels, kernel_size,
                              stride, padding)

    def forward(self, x):
      a, b = torch.split(self.filter(x), self.out_channels, 1)
      return torch.max(a, b)

  class TorchGroup(nn.Module):

    def __init__(self, in_channels, out_channels):
      super().__init__()
      self.conv_a = TorchMFM(in_channels, in_channels, 1, 1, 0)
      self.conv = TorchMFM(in_channels, out_channels, 3, 1, 1)

    def forward(self, x):
      return self.conv(self.conv_a(x))

  class TorchResBlock(nn.Module):

    def __init__(self, channels):
      super().__init__()
      self.conv1 = TorchMFM(channels, channels)
      self.conv2 = TorchMFM(channels, channels)

    def forward(self, x):
      return self.conv2(self.conv1(x)) + x

  class TorchLightCNN29v2(nn.Module):
    """network_29layers_v2 with resblock and [1, 2, 3, 4] blocks."""

    def __init__(self, num_classes=10):
      super().__init__()
      self.conv1 = TorchMFM(1, 48, 5, 1, 2)
      self.block1 = nn.Sequential(*[TorchResBlock(48)])
      self.group1 = TorchGroup(48, 96)
      self.block2 = nn.Sequential(*[TorchResBlock(96) for _ in range(2)])
      self.group2 = TorchGroup(96, 192)
      self.block3 = nn.Sequential(*[TorchResBlock(192) for _ in range(3)])
      self.group3 = TorchGroup(192, 128)
      self.block4 = nn.Sequential(*[TorchResBlock(128) for _ in range(4)])
      self.group4 = TorchGroup(128, 128)
      self.fc = nn.Linear(8 * 8 * 128, 256)
      self.fc2 = nn.Linear(256, num_classes, bias=False)

    def forward(self, x):
      def pool(y):
        return F.max_pool2d(y, 2) + F.avg_pool2d(y, 2)
      x = pool(self.conv1(x))
      x = pool(self.group1(self.block1(x)))
      x = pool(self.group2(self.block2(x)))
      x = self.group3(self.block3(x))
      x = pool(self.group4(self.block4(x)))
      fc = self.fc(torch.flatten(x, 1))
      return self.fc2(fc), fc

  class TorchIBasicBlock(nn.Module):

    def __init__(self, in_channels, channels, stride):
      super().__init__()
      self.bn1 = nn.BatchNorm2d(in_channels, eps=1e-5)
      self.conv1 = nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False)
      self.bn2 = nn.BatchNorm2d(channels, eps=1e-5)
      self.prelu = nn.PReLU(channels)
      self.conv2 = nn.Conv2d(channels, channels, 3, stride, 1, bias=False)
      self.bn3 = nn.BatchNorm2d(channels, eps=1e-5)
      self.downsample = None
      if stride != 1 or in_channels != channels:
        self.downsample = nn.Sequential(
            nn.Conv2d(in_channels, channels, 1, stride, bias=False),
            nn.BatchNorm2d(channels, eps=1e-5))

    def forward(self, x):
      out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
      identity_ = x if self.downsample is None else self.downsample(x)
      return out + identity_

  class TorchIResNet(nn.Module):
    """arcface_torch's IResNet with IBasicBlock."""

    def __init__(self, layers, width=64, input_size=112, num_features=512):
      super().__init__()
      self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
      self.bn1 = nn.BatchNorm2d(width, eps=1e-5)
      self.prelu = nn.PReLU(width)
      in_channels = width
      for stage, num_blocks in enumerate(layers):
        channels = width * 2 ** stage
        blocks = []
        for i in range(num_blocks):
          blocks.append(
              TorchIBasicBlock(in_channels, channels, 2 if i == 0 else 1))
          in_channels = channels
        setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
      self.bn2 = nn.BatchNorm2d(in_channels, eps=1e-5)
      self.dropout = nn.Dropout(p=0.0)
      self.fc = nn.Linear(in_channels * (input_size // 16) ** 2, num_features)
      self.features = nn.BatchNorm1d(num_features, eps=1e-5)

    def forward(self, x):
      x = self.prelu(self.bn1(self.conv1(x)))
      x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
      x = self.dropout(torch.flatten(self.bn2(x), 1))
      return self.features(self.fc(x))

  def _randomize(module, seed, residual_gain=1.0):
    """Random weights and BatchNorm statistics, in eval mode.

    ``residual_gain`` scales the kernels inside residual blocks, keeping deep
    activations near unit scale so that an absolute tolerance is meaningful.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
      for name, tensor in module.state_dict().items():
        if name.endswith("num_batches_tracked"):
          continue
        if name.endswith("running_var"):
          tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
        elif name.endswith("running_mean") or name.endswith("bias"):
          tensor.copy_(0.1 * torch.randn(tensor.shape, generator=generator))
        elif tensor.ndim == 1:  # BatchNorm scales and PReLU slopes
          tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
        else:
          gain = (residual_gain if name.startswith(("block", "layer"))
                  else 1.0)
          tensor.copy_(torch.randn(tensor.shape, generator=generator)
                       * gain / tensor[0].numel() ** 0.5)
    return module.eval()


def _save(module, path, prefix=""):
  state = {prefix + k: v for k, v in module.state_dict().items()}
  torch.save(state, path)
  return path


def _flax_forward(config, state, images_nhwc):
  graphdef = nnx.split(identity_import.abstract_encoder(config))[0]
  model = nnx.merge(graphdef, state)
  return np.asarray(jax.jit(lambda m, x: m(x))(model, images_nhwc))


def _torch_forward(module, images_nhwc):
  with torch.no_grad():
    out = module(torch.from_numpy(images_nhwc.transpose(0, 3, 1, 2)))
  return (out[1] if isinstance(out, tuple) else out).numpy()


class ImportWithoutTorchTest(absltest.TestCase):

  def test_module_import_does_not_import_torch(self):
    code = ("import sys; import jaxface.identity_import; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    repo = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=repo,
                            capture_output=True, text=True, check=False)
    self.assertEqual(result.returncode, 0, result.stderr)


@unittest.skipUnless(_HAS_TORCH, "needs PyTorch: pip install 'jaxface[torch]'")
class LightCNNImportTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    torch.manual_seed(0)
    cls.torch_model = _randomize(TorchLightCNN29v2(), seed=1,
                                 residual_gain=0.3)
    cls.images = np.random.default_rng(0).uniform(
        0, 1, (2, 128, 128, 1)).astype(np.float32)

  def test_matches_pytorch(self):
    path = _save(self.torch_model,
                 pathlib.Path(self.create_tempdir().full_path) / "lcnn.pth")
    state = identity_import.import_lightcnn29v2(
        identity_import.load_torch_state_dict(path))
    expected = _torch_forward(self.torch_model, self.images)
    actual = _flax_forward(identity_import.lightcnn29v2_config(), state,
                           self.images)
    self.assertEqual(actual.shape, (2, 256))
    self.assertGreater(np.abs(expected).max(), 1e-2)  # not trivially zero
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)

  def test_data_parallel_prefix_and_wrapper(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    state = {"module." + k: v
             for k, v in self.torch_model.state_dict().items()}
    torch.save({"epoch": 3, "state_dict": state}, tmp / "wrapped.pth.tar")
    loaded = identity_import.load_torch_state_dict(tmp / "wrapped.pth.tar")
    self.assertIn("conv1.filter.weight", loaded)
    self.assertFalse(any(k.startswith("module.") for k in loaded))
    imported = identity_import.import_lightcnn29v2(loaded)
    actual = _flax_forward(identity_import.lightcnn29v2_config(), imported,
                           self.images)
    np.testing.assert_allclose(
        actual, _torch_forward(self.torch_model, self.images), atol=1e-4,
        rtol=0)

  def test_missing_key_is_named(self):
    state_dict = {k: v.numpy() for k, v in
                  self.torch_model.state_dict().items()}
    del state_dict["group2.conv.filter.bias"]
    with self.assertRaisesRegex(ValueError, r"group2\.conv\.filter\.bias"):
      identity_import.import_lightcnn29v2(state_dict)

  def test_unused_key_is_named(self):
    state_dict = {k: v.numpy() for k, v in
                  self.torch_model.state_dict().items()}
    state_dict["block5.0.conv1.filter.weight"] = np.zeros((2, 2, 3, 3))
    with self.assertRaisesRegex(ValueError, r"block5\.0\.conv1\.filter"):
      identity_import.import_lightcnn29v2(state_dict)

  def test_wrong_shape_is_named(self):
    state_dict = {k: v.numpy() for k, v in
                  self.torch_model.state_dict().items()}
    state_dict["fc.bias"] = np.zeros((255,), np.float32)
    with self.assertRaisesRegex(ValueError, r"'fc\.bias'.*\(255,\)"):
      identity_import.import_lightcnn29v2(state_dict)

  def test_pickled_objects_are_refused(self):
    path = pathlib.Path(self.create_tempdir().full_path) / "model.pth"
    torch.save(self.torch_model, path)  # a whole module: pickled code
    with self.assertRaisesRegex(ValueError, "pickled objects"):
      identity_import.load_torch_state_dict(path)

  def test_import_command_and_load(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    path = _save(self.torch_model, tmp / "lcnn.pth")
    summary = identity_import.convert("lightcnn29v2", path,
                                             tmp / "e2")
    self.assertEqual(summary["embedding_dim"], 256)
    self.assertEqual(summary["kind"], "lightcnn29v2")
    graphdef, state, config = identity_import.load_identity_encoder(tmp / "e2")
    self.assertEqual(config.kind, "lightcnn29v2")
    rgb = np.repeat(self.images, 3, axis=-1)  # gray in, gray after conversion
    actual = np.asarray(jax.jit(identity.embed, static_argnums=0)(
        graphdef, state, rgb))
    expected = _torch_forward(self.torch_model, self.images)
    expected /= np.linalg.norm(expected, axis=-1, keepdims=True)
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


@unittest.skipUnless(_HAS_TORCH, "needs PyTorch: pip install 'jaxface[torch]'")
class IResNetImportTest(parameterized.TestCase):

  @parameterized.named_parameters(
      dict(testcase_name="reduced", layers=(1, 2, 1, 1), width=8,
           input_size=32, prefix=""),
      dict(testcase_name="reduced_data_parallel", layers=(2, 1, 1, 2),
           width=4, input_size=48, prefix="module."),
      dict(testcase_name="iresnet50", layers=(), width=64, input_size=112,
           prefix=""),
  )
  def test_matches_pytorch(self, layers, width, input_size, prefix):
    torch_layers = layers or identity.IRESNET_LAYERS[50]
    torch_model = _randomize(
        TorchIResNet(torch_layers, width=width, input_size=input_size),
        seed=2, residual_gain=0.3)
    path = _save(torch_model,
                 pathlib.Path(self.create_tempdir().full_path) / "bb.pth",
                 prefix=prefix)
    state = identity_import.import_iresnet(
        identity_import.load_torch_state_dict(path), 50, layers=layers,
        width=width, input_size=input_size)
    images = np.random.default_rng(1).uniform(
        -1, 1, (2, input_size, input_size, 3)).astype(np.float32)
    expected = _torch_forward(torch_model, images)
    config = identity_import.iresnet_config(50, layers=layers, width=width,
                                            input_size=input_size)
    actual = _flax_forward(config, state, images)
    self.assertEqual(actual.shape, (2, 512))
    self.assertGreater(np.abs(expected).max(), 1e-2)
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)

  def test_wrong_architecture_is_named(self):
    lightcnn = {k: v.numpy() for k, v in
                _randomize(TorchLightCNN29v2(), 0).state_dict().items()}
    with self.assertRaisesRegex(ValueError, r"no tensor 'bn1\.bias'"):
      identity_import.import_iresnet(lightcnn, layers=(1, 1, 1, 1), width=4,
                                     input_size=32)

  def test_wrong_depth_is_named(self):
    torch_model = _randomize(TorchIResNet((1, 1, 1, 2), width=4,
                                          input_size=32), seed=3)
    state_dict = {k: v.numpy() for k, v in torch_model.state_dict().items()}
    with self.assertRaisesRegex(ValueError, r"'layer4\.1\.bn1\.bias'"):
      identity_import.import_iresnet(state_dict, layers=(1, 1, 1, 1),
                                     width=4, input_size=32)


class SaveLoadTest(parameterized.TestCase):

  def test_round_trip(self):
    config = identity_import.iresnet_config(layers=(1, 1, 1, 1), width=4,
                                            input_size=32)
    graphdef, state = nnx.split(identity_import.abstract_encoder(config))
    rng = np.random.default_rng(3)
    state = jax.tree.map(
        lambda x: rng.normal(size=x.shape).astype(np.float32) * 0.1 + 1.0,
        state)
    # Non-default statistics, so a restore that dropped them would show.
    state["bn2"]["mean"][...] = np.full(state["bn2"]["mean"].shape, 0.3,
                                        np.float32)
    directory = self.create_tempdir().full_path
    identity_import.save_identity_encoder(directory, "iresnet", config, state)
    graphdef2, state2, config2 = identity_import.load_identity_encoder(
        directory)
    self.assertEqual(config2.to_dict(), config.to_dict())
    self.assertEqual(graphdef2, graphdef)
    jax.tree.map(np.testing.assert_array_equal, nnx.to_pure_dict(state2),
                 nnx.to_pure_dict(state))
    images = np.random.default_rng(2).uniform(0, 1, (2, 40, 36, 3))
    embed = jax.jit(identity.embed, static_argnums=0)
    np.testing.assert_allclose(
        embed(graphdef2, state2, images.astype(np.float32)),
        embed(graphdef, state, images.astype(np.float32)), atol=1e-6)

  def test_reads_an_encoder_saved_on_other_devices(self):
    # E2 is pretrained on one machine and read on another (a CPU's
    # checkpoint on a GPU): the device the arrays were saved from must not
    # matter. Saved here from device 15 of 16; this process has 8.
    directory = self.create_tempdir().full_path
    code = (
        "import os; os.environ['XLA_FLAGS'] = "
        "'--xla_force_host_platform_device_count=16'\n"
        "import jax, numpy as np\n"
        "from flax import nnx\n"
        "from jaxface import identity_import\n"
        "config = identity_import.iresnet_config(layers=(1, 1, 1, 1), "
        "width=4, input_size=32)\n"
        "state = nnx.state(identity_import.abstract_encoder(config))\n"
        "state = jax.tree.map(lambda x: jax.device_put(np.full(x.shape, "
        "0.5, x.dtype), jax.devices()[15]), state)\n"
        f"identity_import.save_identity_encoder({directory!r}, 'iresnet', "
        "config, state)\n")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=pathlib.Path(__file__).resolve().parents[1])
    self.assertLess(jax.device_count(), 16)
    _, state, _ = identity_import.load_identity_encoder(directory)
    for leaf in jax.tree.leaves(nnx.to_pure_dict(state)):
      np.testing.assert_array_equal(leaf, np.full(leaf.shape, 0.5))

  @parameterized.parameters(dict(layers=(1, 1, 1, 2), width=4),
                            dict(layers=(1, 1, 1, 1), width=8))
  def test_mismatched_state_is_refused(self, layers, width):
    config = identity_import.iresnet_config(layers=(1, 1, 1, 1), width=4,
                                            input_size=32)
    other = identity_import.abstract_encoder(
        identity_import.iresnet_config(layers=layers, width=width,
                                       input_size=32))
    directory = self.create_tempdir().full_path
    with self.assertRaisesRegex(ValueError, "does not belong"):
      identity_import.save_identity_encoder(directory, "iresnet", config,
                                            nnx.state(other))

  def test_missing_directory(self):
    with self.assertRaisesRegex(FileNotFoundError, "identity_config.json"):
      identity_import.load_identity_encoder(self.create_tempdir().full_path)

  def test_safetensors_needs_package_or_reads(self):
    path = pathlib.Path(self.create_tempdir().full_path) / "w.safetensors"
    if importlib.util.find_spec("safetensors") is None:
      path.write_bytes(b"")
      with self.assertRaisesRegex(ImportError, "safetensors"):
        identity_import.load_torch_state_dict(path)
    else:
      import safetensors.numpy  # pylint: disable=g-import-not-at-top
      safetensors.numpy.save_file(
          {"module.fc.weight": np.ones((2, 3), np.float32)}, str(path))
      loaded = identity_import.load_torch_state_dict(path)
      self.assertEqual(list(loaded), ["fc.weight"])


if __name__ == "__main__":
  absltest.main()
