"""Reference outputs of the official PyTorch GIRAFFE, for parity tests.

Builds the official GIRAFFE model (autonomousvision/giraffe @ fc8d450) from
its own config files, perturbs its weights deterministically, and writes its
checkpoint, renders, discriminator losses and one training step to numpy
files, so that the JAX implementation can be checked against them number by
number.

The official modules are imported at run time from a checkout given by
``--giraffe-src`` (or ``$GIRAFFE_SRC``); none of their code is copied here.
The official code targets torch 1.7, scipy 1.5, kornia 0.3 and CUDA, so a
few compatibility shims are installed first. None of them changes any
arithmetic:

* ``scipy Rotation.as_dcm`` -> ``Rotation.as_matrix`` (renamed in scipy 1.4).
* ``kornia.filters.filter2D`` -> ``kornia.filters.filter2d`` (kornia 0.5).
* ``torch.Tensor.cuda`` -> identity when CUDA is unavailable (the bounding
  box generator calls ``.cuda()`` unconditionally).
* Empty stand-ins in ``sys.modules`` for packages that only visualisation,
  FID or dataset loading use, when they are not installed: ``torchvision``
  (``utils``, ``transforms``), ``imageio``, ``tqdm``, ``lmdb``, ``PIL``, and
  always for ``im2scene.eval``. Calling any of their functions raises.

Weights. The model is initialised with torch seed ``--seed`` (default 0),
then every parameter gets ``0.01 * N(0, 1)`` noise from a separate generator
seeded with ``12345 + seed``, so that ``generator`` and ``generator_test``
differ. With random weights the densities are about 0.02 and nothing is
visible, so in both generators the ``sigma_out`` layer of the object decoder
is scaled by 300 (weight and bias) with 8 added to its bias, and that of the
background decoder is scaled by 30. Latent codes are drawn after
``torch.manual_seed(1 + seed)``.

Outputs, in ``--out``:

  model.pt              official checkpoint (``CheckpointIO.save``): keys
                        epoch_it, it, loss_val_best, model, optimizer,
                        optimizer_d.
  params.npz            the same model state dict as numpy arrays.
  state_dict_keys.txt   key, shape, dtype and size of every entry.
  config_merged.json    the merged official config.
  render_poses.npz      latents, rotation and elevation fractions, camera
                        and object transformations, feature images (input
                        of the neural renderer) and RGB images of
                        ``generator_test.eval()`` in mode 'val', for 3x3
                        poses indexed ``3 * elev_idx + rot_idx``.
  render_generator.npz  the middle pose rendered by ``model.generator``.
  debug_pose.npz        intermediate values of the middle pose: pixels,
                        rays, sample depths, raw decoder densities, decoder
                        inputs and outputs on a few rays, object alpha map.
  disc_losses.npz       discriminator logits, BCE losses and R1 term
                        (official ``compute_bce`` and ``compute_grad2``).
  train_step.npz        one official ``Trainer.train_step`` with the
                        generator bound to fixed inputs in mode 'val':
                        losses, gradients, parameters after the RMSprop
                        step and after the EMA update.
  timing.json           forward and train-step times, parameter counts.

Environment::

  python3 -m venv V && V/bin/pip install torch==2.13.0 numpy pyyaml scipy \\
      kornia

Run (about a minute on 2 CPU cores)::

  V/bin/python experiments/giraffe_reference.py \\
      --giraffe-src $SCRATCH/giraffe --out /tmp/giraffe_ref
"""

import argparse
import functools
import importlib.machinery
import importlib.util
import json
import os
import sys
import time
import types

import numpy as np

_BATCH = 4
_NOISE_STD = 0.01
_OBJ_SIGMA_GAIN, _OBJ_SIGMA_BIAS = 300.0, 8.0
_BG_SIGMA_GAIN, _BG_SIGMA_BIAS = 30.0, 0.0
_ROT_FRACS = [0.0, 0.5, 1.0]
_ELEV_FRACS = [0.0, 0.5, 1.0]
_MID_POSE = 3 * 1 + 1


def _raising(name):
  """Returns a function that fails loudly if a stubbed-out API is used."""

  def fail(*args, **kwargs):
    del args, kwargs
    raise RuntimeError(f"{name} is not available (stubbed out)")

  return fail


def _stub(name, applied, **attrs):
  """Puts an empty module called `name` in `sys.modules` (or reuses one).

  Args:
    name: Dotted module name.
    applied: List to which a description of the stub is appended.
    **attrs: Attributes to set on the module.

  Returns:
    The module.
  """
  module = sys.modules.get(name)
  if module is None:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    sys.modules[name] = module
    applied.append("stub module " + name)
  for key, value in attrs.items():
    setattr(module, key, value)
  return module


def _missing(name):
  return importlib.util.find_spec(name) is None


def install_shims(src):
  """Makes the official code importable on CPU-only torch 2.x.

  Args:
    src: Root of the GIRAFFE checkout; it is put first on `sys.path`.

  Returns:
    A list of strings, one for each shim that was installed.
  """
  import torch
  import kornia.filters
  from scipy.spatial.transform import Rotation

  applied = []
  if not hasattr(Rotation, "as_dcm"):
    Rotation.as_dcm = Rotation.as_matrix
    applied.append("scipy Rotation.as_dcm=as_matrix")
  if not hasattr(kornia.filters, "filter2D"):
    kornia.filters.filter2D = kornia.filters.filter2d
    applied.append("kornia filter2D=filter2d")
  if not torch.cuda.is_available():
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    applied.append("Tensor.cuda=identity (no CUDA)")

  # torch._dynamo looks for optional packages when it is imported; import it
  # before the stubs exist so that it sees the real environment.
  import torch._dynamo

  stubbed_torchvision = _missing("torchvision")
  if stubbed_torchvision:
    torchvision = _stub("torchvision", applied)
    torchvision.utils = _stub(
        "torchvision.utils", applied, save_image=_raising("save_image"),
        make_grid=_raising("make_grid"))
  if _missing("imageio"):
    _stub("imageio", applied, mimwrite=_raising("imageio.mimwrite"),
          imwrite=_raising("imageio.imwrite"))
  if _missing("tqdm"):
    _stub("tqdm", applied, tqdm=lambda iterable, *args, **kwargs: iterable)
  # FID (InceptionV3 through torchvision); never called here.
  sys.modules.pop("im2scene.eval", None)
  _stub("im2scene.eval", applied,
        calculate_activation_statistics=_raising(
            "calculate_activation_statistics"),
        calculate_frechet_distance=_raising("calculate_frechet_distance"))
  sys.path.insert(0, src)

  # Imported by the dataset module, which im2scene.config pulls in.
  if stubbed_torchvision:
    sys.modules["torchvision"].transforms = _stub(
        "torchvision.transforms", applied)
  if _missing("lmdb"):
    _stub("lmdb", applied)
  if _missing("PIL"):
    pil = _stub("PIL", applied)
    pil.Image = _stub("PIL.Image", applied)
    pil.ImageFile = _stub("PIL.ImageFile", applied)
  return applied


def _perturb(model, seed):
  """Adds weight noise and makes the densities visible (see module doc)."""
  import torch

  noise = torch.Generator().manual_seed(12345 + seed)
  with torch.no_grad():
    for _, param in model.named_parameters():
      param.add_(_NOISE_STD * torch.randn(param.shape, generator=noise))
    for gen_name in ("generator", "generator_test"):
      gen = getattr(model, gen_name)
      if gen is None:
        continue
      for dec_name, gain, bias in (
          ("decoder", _OBJ_SIGMA_GAIN, _OBJ_SIGMA_BIAS),
          ("background_generator", _BG_SIGMA_GAIN, _BG_SIGMA_BIAS)):
        layer = getattr(gen, dec_name).sigma_out
        layer.weight.mul_(gain)
        layer.bias.mul_(gain).add_(bias)


def _count(module):
  return sum(p.numel() for p in module.parameters())


def _save_model(out_dir, model, optimizer, optimizer_d):
  """Writes model.pt, state_dict_keys.txt and params.npz."""
  import torch
  from im2scene.checkpoints import CheckpointIO

  checkpoint_io = CheckpointIO(out_dir, model=model, optimizer=optimizer,
                               optimizer_d=optimizer_d)
  checkpoint_io.save("model.pt", epoch_it=-1, it=-1, loss_val_best=-np.inf)
  state = model.state_dict()
  top_keys = list(torch.load(os.path.join(out_dir, "model.pt"),
                             weights_only=False).keys())
  with open(os.path.join(out_dir, "state_dict_keys.txt"), "w") as f:
    f.write("# checkpoint top-level keys: %s\n" % top_keys)
    f.write("# key\tshape\tdtype\tnumel   (checkpoint[\"model\"])\n")
    for key, value in state.items():
      dtype = str(value.dtype).replace("torch.", "")
      f.write("%s\t%s\t%s\t%d\n" % (key, tuple(value.shape), dtype,
                                    value.numel()))
  np.savez(os.path.join(out_dir, "params.npz"),
           **{k: v.detach().cpu().numpy() for k, v in state.items()})


def _render_poses(gen, latent_codes, bg_rotation, times):
  """Renders the 3x3 poses with `gen`.

  Args:
    gen: The official generator, in eval mode.
    latent_codes: (z_shape_obj, z_app_obj, z_shape_bg, z_app_bg).
    bg_rotation: Background rotation matrices.
    times: List to which the forward time of each pose is appended.

  Returns:
    A dict of per-pose arrays, stacked along the first axis.
  """
  import torch

  batch = latent_codes[0].shape[0]
  features = {}

  def keep_features(module, inputs):
    del module
    features["feat"] = inputs[0].detach().clone()

  hook = gen.neural_renderer.register_forward_pre_hook(keep_features)
  rec = {k: [] for k in ("rot_frac", "elev_frac", "rot_angle_rad", "elev_v",
                         "camera_mat", "world_mat", "scale", "translation",
                         "rotation", "feat_image", "rgb")}
  rot_range = gen.bounding_box_generator.rotation_range
  with torch.no_grad():
    for elev in _ELEV_FRACS:
      cam = gen.get_camera(val_u=0.5, val_v=elev, val_r=0.5, batch_size=batch)
      for rot in _ROT_FRACS:
        s, t, r = gen.get_transformations(
            val_s=[[0.5, 0.5, 0.5]], val_t=[[0.5, 0.5, 0.5]], val_r=[rot],
            batch_size=batch)
        start = time.perf_counter()
        rgb = gen(batch, latent_codes, cam, (s, t, r), bg_rotation,
                  mode="val")
        times.append(time.perf_counter() - start)
        rec["rot_frac"].append(rot)
        rec["elev_frac"].append(elev)
        rec["rot_angle_rad"].append(
            (rot_range[0] + rot * (rot_range[1] - rot_range[0])) * 2 * np.pi)
        rec["elev_v"].append(
            gen.range_v[0] + elev * (gen.range_v[1] - gen.range_v[0]))
        rec["camera_mat"].append(cam[0].numpy())
        rec["world_mat"].append(cam[1].numpy())
        rec["scale"].append(s.numpy())
        rec["translation"].append(t.numpy())
        rec["rotation"].append(r.numpy())
        rec["feat_image"].append(features["feat"].numpy())
        rec["rgb"].append(rgb.numpy())
  hook.remove()
  return {k: np.asarray(v) for k, v in rec.items()}


def _pose(poses, index):
  """Returns (camera matrices, transformations) of pose `index` as tensors."""
  import torch

  cam = tuple(torch.from_numpy(poses[k][index])
              for k in ("camera_mat", "world_mat"))
  trans = tuple(torch.from_numpy(poses[k][index])
                for k in ("scale", "translation", "rotation"))
  return cam, trans


def _debug_pose(gen, latent_codes, bg_rotation, poses):
  """Collects intermediate values of the middle pose."""
  import torch
  from im2scene import common

  calls = []

  def recorder(tag):
    def record(module, inputs, outputs):
      del module
      calls.append((tag, [x.detach().clone() for x in inputs],
                    [x.detach().clone() for x in outputs]))
    return record

  hooks = [gen.decoder.register_forward_hook(recorder("obj")),
           gen.background_generator.register_forward_hook(recorder("bg"))]
  batch = latent_codes[0].shape[0]
  cam, trans = _pose(poses, _MID_POSE)
  with torch.no_grad():
    gen(batch, latent_codes, cam, trans, bg_rotation, mode="val")
    alpha_map = gen(batch, latent_codes, cam, trans, bg_rotation, mode="val",
                    return_alpha_map=True)
  for hook in hooks:
    hook.remove()

  res, n_samples = gen.resolution_vol, gen.n_ray_samples
  n_rays = res * res
  _, (p_obj, r_obj, _, _), (f_obj, s_obj) = calls[0]
  _, (p_bg, r_bg, _, _), (f_bg, s_bg) = calls[1]
  # Flat ray index k = i * res + j, with i the column and j the row.
  rays = np.array([(res // 2) * res + res // 2, 3 * res + 12, 0, n_rays - 1])

  def on_rays(x):
    return x.reshape(batch, n_rays, n_samples, -1)[:, rays].numpy()

  pixels = common.arange_pixels((res, res), batch, invert_y_axis=False)[1]
  pixels[..., -1] *= -1.
  pixels_world = common.image_points_to_world(pixels, camera_mat=cam[0],
                                              world_mat=cam[1])
  camera_world = common.origin_to_world(n_rays, camera_mat=cam[0],
                                       world_mat=cam[1])
  depths = gen.depth_range[0] + torch.linspace(0., 1., steps=n_samples) * (
      gen.depth_range[1] - gen.depth_range[0])
  return dict(
      pose_index=np.int64(_MID_POSE), rays=rays,
      pixels=pixels.numpy(), pixels_world=pixels_world.numpy(),
      camera_world=camera_world.numpy(),
      ray_vector=(pixels_world - camera_world).numpy(), di=depths.numpy(),
      sigma_obj_raw=s_obj.reshape(batch, n_rays, n_samples).numpy(),
      sigma_bg_raw=s_bg.reshape(batch, n_rays, n_samples).numpy(),
      p_obj_rays=on_rays(p_obj), r_obj_rays=on_rays(r_obj),
      feat_obj_rays=on_rays(f_obj),
      p_bg_rays=on_rays(p_bg), r_bg_rays=on_rays(r_bg),
      feat_bg_rays=on_rays(f_bg),
      alpha_map_obj=alpha_map.numpy(),
      feat_image=poses["feat_image"][_MID_POSE],
      rgb=poses["rgb"][_MID_POSE],
      note=np.array(
          "sigma_*_raw: decoder output BEFORE box mask / relu (mode=val: no "
          "noise). p/r/feat_*_rays: [B, len(rays), S, .] decoder inputs p "
          "(box coords for obj, bg-rotated world coords for bg), ray dirs "
          "(unnormalised) and output features. alpha_map_obj: "
          "return_alpha_map=True output."))


def _disc_losses(disc, poses):
  """Discriminator logits, BCE losses and R1 on two rendered batches."""
  import torch
  from im2scene import training

  disc.train()
  x_real = torch.from_numpy(poses["rgb"][0]).clone().requires_grad_()
  x_fake = torch.from_numpy(poses["rgb"][8]).clone()
  d_real = disc(x_real)
  d_fake = disc(x_fake)
  bce_real_1 = training.compute_bce(d_real, 1)
  bce_fake_0 = training.compute_bce(d_fake, 0)
  bce_fake_1 = training.compute_bce(d_fake, 1)
  grad2 = training.compute_grad2(d_real, x_real)
  return dict(
      x_real=x_real.detach().numpy(), x_fake=x_fake.numpy(),
      d_real=d_real.detach().numpy(), d_fake=d_fake.detach().numpy(),
      bce_real_1=bce_real_1.item(), bce_fake_0=bce_fake_0.item(),
      bce_fake_1=bce_fake_1.item(),
      grad2_per_sample=grad2.detach().numpy(),
      reg=(10. * grad2.mean()).item(),
      note=np.array(
          "x_real = render_poses rgb[0], x_fake = rgb[8]; reg = 10 * "
          "compute_grad2(d_real, x_real).mean() as training.py:158"))


def _train_step(model, optimizer, optimizer_d, latent_codes, bg_rotation,
                poses, timing):
  """Runs one official training step with a deterministic generator."""
  import torch
  from im2scene.giraffe import training

  trainer = training.Trainer(
      model, optimizer, optimizer_d, device=torch.device("cpu"),
      vis_dir=None, overwrite_visualization=False, multi_gpu=False,
      fid_dict={}, n_eval_iterations=1)
  gen = model.generator
  batch = latent_codes[0].shape[0]
  cam, trans = _pose(poses, _MID_POSE)
  # Fixed latents and pose, mode 'val' (no density noise, no jitter).
  gen.forward = functools.partial(
      type(gen).forward, gen, batch_size=batch, latent_codes=latent_codes,
      camera_matrices=cam, transformations=trans, bg_rotation=bg_rotation,
      mode="val")
  x_real = torch.from_numpy(poses["rgb"][0]).clone()
  start = time.perf_counter()
  losses = trainer.train_step({"image": x_real}, it=0)
  timing["train_step_batch%d_sec" % batch] = time.perf_counter() - start
  out = {}
  for key, value in gen.named_parameters():
    out["grad/generator." + key] = value.grad.detach().numpy()
    out["after/generator." + key] = value.detach().numpy()
  for key, value in model.generator_test.named_parameters():
    out["after/generator_test." + key] = value.detach().numpy()
  for key, value in model.discriminator.named_parameters():
    out["grad/discriminator." + key] = value.grad.detach().numpy()
    out["after/discriminator." + key] = value.detach().numpy()
  out.update({"loss/" + k: np.float64(v) for k, v in losses.items()})
  out["x_real"] = x_real.detach().numpy()
  out["note"] = np.array(
      "one official Trainer.train_step (G step, EMA update, D step) starting "
      "from params.npz; G.forward bound to fixed inputs = render_poses pose 4 "
      "latents/camera/transformations, mode=val; x_real = render_poses "
      "rgb[0]. grad/generator.* are from the G step (grad of "
      "BCE(D(G()),1)); grad/discriminator.* from the D step (real BCE + "
      "10*R1 + fake BCE). loss/* = dict returned by train_step "
      "(discriminator = fake+real BCE, regularizer = 10*R1).")
  return out


def main():
  parser = argparse.ArgumentParser(
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--giraffe-src", default=os.environ.get("GIRAFFE_SRC"),
                      help="checkout of autonomousvision/giraffe "
                           "(default: $GIRAFFE_SRC)")
  parser.add_argument(
      "--out", default=os.path.join(os.path.dirname(os.path.abspath(
          __file__)), "giraffe_reference_out"),
      help="output folder (default: experiments/giraffe_reference_out)")
  parser.add_argument("--config", default="configs/64res/celeba_64.yaml",
                      help="config, relative to the checkout")
  parser.add_argument("--no-train-step", action="store_true",
                      help="skip train_step.npz")
  parser.add_argument("--seed", type=int, default=0,
                      help="base seed of initialisation, noise and latents")
  parser.add_argument("--threads", type=int, default=2,
                      help="torch CPU threads")
  parser.add_argument("--time-batch32", action="store_true",
                      help="also time one training-mode forward at batch 32")
  args = parser.parse_args()
  if not args.giraffe_src:
    parser.error("set --giraffe-src or $GIRAFFE_SRC to a GIRAFFE checkout")

  src = os.path.abspath(args.giraffe_src)
  shims = install_shims(src)
  import torch
  from im2scene import config as top_config
  from im2scene.giraffe import config as giraffe_config

  torch.set_num_threads(args.threads)
  os.makedirs(args.out, exist_ok=True)
  cfg = top_config.load_config(os.path.join(src, args.config),
                               os.path.join(src, "configs/default.yaml"))
  with open(os.path.join(args.out, "config_merged.json"), "w") as f:
    json.dump(cfg, f, indent=1, default=str)

  # Model, optimizers (as the official train.py) and checkpoint.
  np.random.seed(args.seed)
  torch.manual_seed(args.seed)
  model = giraffe_config.get_model(cfg, device=torch.device("cpu"),
                                   len_dataset=0)
  _perturb(model, args.seed)
  n_params = {k: _count(getattr(model, k))
              for k in ("generator", "generator_test", "discriminator")}
  n_params_parts = {k: _count(getattr(model.generator, k))
                    for k in ("decoder", "background_generator",
                              "neural_renderer", "bounding_box_generator")}
  training_cfg = cfg["training"]
  optim_cls = (torch.optim.RMSprop if training_cfg["optimizer"] == "RMSprop"
               else torch.optim.Adam)
  optimizer = optim_cls(model.generator.parameters(),
                        lr=training_cfg["learning_rate"],
                        **training_cfg["optimizer_kwargs"])
  optimizer_d = optim_cls(model.discriminator.parameters(),
                          lr=training_cfg["learning_rate_d"])
  _save_model(args.out, model, optimizer, optimizer_d)

  # Renders with the EMA generator.
  gen = (model.generator_test if model.generator_test is not None
         else model.generator)
  gen.eval()
  torch.manual_seed(1 + args.seed)
  latent_codes = gen.get_latent_codes(_BATCH)  # N(0, 1), temperature 1.
  bg_rotation = gen.get_bg_rotation(0., batch_size=_BATCH)  # Identity.
  times = []
  poses = _render_poses(gen, latent_codes, bg_rotation, times)
  z_shape_obj, z_app_obj, z_shape_bg, z_app_bg = latent_codes
  render = dict(poses)
  render.update(
      z_shape_obj=z_shape_obj.numpy(), z_app_obj=z_app_obj.numpy(),
      z_shape_bg=z_shape_bg.numpy(), z_app_bg=z_app_bg.numpy(),
      bg_rotation=bg_rotation.numpy(),
      val_u=np.float32(0.5), val_r_radius=np.float32(0.5),
      range_u=np.asarray(gen.range_u, np.float64),
      range_v=np.asarray(gen.range_v, np.float64),
      range_radius=np.asarray(gen.range_radius, np.float64),
      rotation_range=np.asarray(gen.bounding_box_generator.rotation_range),
      fov=np.float64(gen.fov), depth_range=np.asarray(gen.depth_range),
      n_ray_samples=np.int64(gen.n_ray_samples),
      resolution_vol=np.int64(gen.resolution_vol),
      note=np.array(
          "generator=model.generator_test (EMA copy), .eval(), mode=val; "
          "arrays indexed [pose] with pose = elev-major: "
          "pose = 3*elev_idx + rot_idx"))
  np.savez(os.path.join(args.out, "render_poses.npz"), **render)

  # The same latents and middle pose with the non-EMA generator, whose
  # weights differ because every parameter was perturbed independently.
  cam, trans = _pose(poses, _MID_POSE)
  with torch.no_grad():
    rgb = model.generator.eval()(_BATCH, latent_codes, cam, trans,
                                 bg_rotation, mode="val")
  np.savez(os.path.join(args.out, "render_generator.npz"), rgb=rgb.numpy(),
           pose_index=np.int64(_MID_POSE),
           note=np.array("model.generator.eval(), mode=val, pose "
                         "render_poses[pose_index]"))

  debug = _debug_pose(gen, latent_codes, bg_rotation, poses)
  np.savez(os.path.join(args.out, "debug_pose.npz"), **debug)
  np.savez(os.path.join(args.out, "disc_losses.npz"),
           **_disc_losses(model.discriminator, poses))

  timing = {"forward_mode_val_batch%d_sec" % _BATCH: times,
            "torch_threads": torch.get_num_threads()}
  if not args.no_train_step:
    step = _train_step(model, optimizer, optimizer_d, latent_codes,
                       bg_rotation, poses, timing)
    np.savez(os.path.join(args.out, "train_step.npz"), **step)

  # Training-mode forward with random sampling, as the trainer calls it.
  with torch.no_grad():
    gen_train = model.generator
    gen_train.forward = functools.partial(type(gen_train).forward, gen_train)
    start = time.perf_counter()
    gen_train(batch_size=_BATCH)
    timing["forward_mode_training_batch%d_sec" % _BATCH] = (
        time.perf_counter() - start)
    if args.time_batch32:
      start = time.perf_counter()
      gen_train(batch_size=32)
      timing["forward_mode_training_batch32_sec"] = (
          time.perf_counter() - start)
  timing.update(n_params=n_params, n_params_generator_parts=n_params_parts,
                shims=shims, torch=torch.__version__)
  with open(os.path.join(args.out, "timing.json"), "w") as f:
    json.dump(timing, f, indent=1)
  print(json.dumps({k: v for k, v in timing.items() if k != "shims"},
                   indent=1))
  rgb = poses["rgb"]
  print("rgb range [%.4f, %.4f] mean %.4f std %.4f"
        % (rgb.min(), rgb.max(), rgb.mean(), rgb.std()))
  print("per-pose rgb mean:",
        np.round(rgb.reshape(len(rgb), -1).mean(1), 4))
  print("object alpha (mid pose) mean %.4f max %.4f"
        % (debug["alpha_map_obj"].mean(), debug["alpha_map_obj"].max()))


if __name__ == "__main__":
  main()
