"""GIRAFFE-style FFHQ at 256x256: 32x32 feature image, ResNet discriminator."""

import pathlib
import runpy

_BASE = runpy.run_path(str(pathlib.Path(__file__).with_name("celeba64.py")))


def get_config(arg=None):
  config = _BASE["get_config"](arg)
  config.render.feature_size = 32
  config.field.feature_dim = 256
  config.neural_renderer.num_features = 256
  config.disc.kind = "resnet"
  config.disc.num_features = 512
  config.data.update(name="image_folder", data_dir="data/ffhq256",
                     image_size=256)
  config.train.batch_size = 32
  return config
