"""The demo config: a small generator that learns faces on a CPU in minutes.

Same pipeline as ``celeba64`` at 32x32 output with a slimmer field, samples
concentrated inside the object box and a batch a laptop handles.
"""

import pathlib
import runpy

_BASE = runpy.run_path(str(pathlib.Path(__file__).with_name("celeba64.py")))


def get_config(arg=None):
  config = _BASE["get_config"](arg)
  config.render.num_samples = 12
  config.render.sample_in_box = True
  config.render.near = 2.0
  config.render.far = 3.5
  config.render.density_activation = "softplus"
  config.field.update(hidden=64, num_layers=4, skips=(2,), pos_freqs=6,
                      z_shape_dim=64, z_app_dim=64, feature_dim=64,
                      bg_hidden=32, bg_num_layers=2, z_bg_shape_dim=16,
                      z_bg_app_dim=16)
  config.neural_renderer.num_features = 64
  config.disc.num_features = 128
  config.optim.update(kind="adam", g_lr=1e-3, d_lr=1e-3, ema_decay=0.99)
  config.loss.update(
      r1_weight=1.0,
      # The identity branch: Q pairs each real face with its codes and pose.
      identity_weight=1.0,
      identity_random_weight=0.5,
      l1_weight=1.0,
      perceptual_weight=0.5,
      kl_weight=1e-3,
      recon_gan_weight=0.5,
      pose_regression_weight=1.0,
      code_regression_weight=1.0,
  )
  # E2 pretrained on the demo identities (`make demo` runs pretrain-identity
  # first); the tiny test config switches the branch off.
  config.identity.encoder_dir = "runs/demo/identity/identity_encoder"
  config.optim.branch_lr = 1e-3
  config.data.update(image_size=32, train_identities=96, test_identities=8,
                     views=8)
  config.train.update(batch_size=16, num_steps=1200)
  config.ckpt.every_steps = 200
  config.log.update(every_steps=50, images_every_steps=200,
                    eval_every_steps=200)
  return config
