"""GIRAFFE's CelebA-HQ 256x256 setting (configs/256res/celebahq_256.yaml).

As ffhq256 (256-d features, four renderer blocks, six-layer DCGAN, G's
learning rate 2.5e-4) with the wider yaw range of CelebA-HQ: GIRAFFE's
rotation_range (0.375, 0.625), yaw +-45 degrees. Data: an image folder of
CelebA-HQ at 256x256.
"""

import pathlib
import runpy

_BASE = runpy.run_path(str(pathlib.Path(__file__).with_name("ffhq256.py")))


def get_config(arg=None):
  config = _BASE["get_config"](arg)
  config.camera.azimuth_range = (0.375, 0.625)
  config.data.data_dir = "data/celebahq256"
  return config
