"""GIRAFFE's FFHQ 256x256 setting (configs/256res/ffhq_256.yaml).

As celeba64 but 256-d features in both fields and the neural renderer (four
upsampling blocks from the same 16x16 feature image), a six-layer DCGAN
discriminator and G's learning rate halved. Data: an image folder of FFHQ
at 256x256 (GIRAFFE resizes without a centre crop).
"""

import pathlib
import runpy

_BASE = runpy.run_path(str(pathlib.Path(__file__).with_name("celeba64.py")))


def get_config(arg=None):
  config = _BASE["get_config"](arg)
  config.field.feature_dim = 256
  config.neural_renderer.num_features = 256
  config.optim.g_lr = 2.5e-4
  config.data.update(name="image_folder", data_dir="data/ffhq256",
                     image_size=256)
  return config
