"""Command line: ``jaxface {train,render,reconstruct,evaluate,...} ...``.

Only argument parsing and dispatch live here; each command is a function of
``jaxface.commands``. Configs are ml_collections files selected with
``--config=configs/celeba64.py`` and overridden with
``--config.train.batch_size=8``; ``reconstruct`` and ``evaluate`` take
``--config.refine.*`` overrides of the run's own config. ``--config`` given
to a command that cannot use it is an error. Input errors print one line
and exit non-zero.
"""

import argparse
import os
import sys

from absl import flags
from absl import logging
from ml_collections import config_flags

from jaxface import errors

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file (configs/*.py).", lock_config=True)


def _distributed_arguments(parser):
  group = parser.add_argument_group(
      "multi-process", "one process per host (README: multi-host)")
  group.add_argument("--distributed", action="store_true",
                     help="call jax.distributed.initialize(): on TPU pods "
                          "and SLURM/MPI/Kubernetes clusters it finds its "
                          "peers itself")
  group.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                     help="process 0's address, for clusters it cannot "
                          "detect (implies --distributed)")
  group.add_argument("--num-processes", type=int, default=None)
  group.add_argument("--process-id", type=int, default=None)


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="jaxface", allow_abbrev=False,
      description="Train a 3D-aware face generator; render its faces.",
      epilog="Config overrides: --config=configs/celeba64.py "
             "--config.train.batch_size=8")
  sub = parser.add_subparsers(dest="command", required=True)

  train = sub.add_parser("train", allow_abbrev=False,
                         help="train (resumes from the latest checkpoint)")
  train.add_argument("--workdir", required=True)
  _distributed_arguments(train)

  sweep = sub.add_parser(
      "sweep", allow_abbrev=False,
      help="train a grid of hyperparameters as one compiled step")
  sweep.add_argument("--workdir", required=True)
  sweep.add_argument("--grid", action="append", default=[],
                     metavar="KEY=V1,V2,...",
                     help="a learning rate, optim.ema_decay or loss weight "
                          "and its values; members are every combination")
  sweep.add_argument("--metric", default="clean/psnr_head_novel",
                     help="held-out metric the table is sorted by")
  sweep.add_argument("--export-member", type=int, default=None, metavar="K",
                     help="write member K as a plain run in --out instead")
  sweep.add_argument("--out", default=None,
                     help="the run directory --export-member writes")
  _distributed_arguments(sweep)

  render = sub.add_parser("render", allow_abbrev=False,
                          help="multi-view grid and orbit from a checkpoint")
  render.add_argument("--workdir", required=True)
  render.add_argument("--out", default=None,
                      help="output directory (default WORKDIR/renders)")
  render.add_argument("--seed", type=int, default=0)
  render.add_argument("--num-faces", type=int, default=8)
  render.add_argument("--num-views", type=int, default=7)
  render.add_argument("--codes", default=None,
                      help="codes.npz (z_shape, z_app, z_bg_shape, z_bg_app "
                           "[n, dim]) to render instead of random faces")
  render.add_argument("--poses", default=None,
                      help='poses.json: [{"yaw_deg": ..., "pitch_deg": ...}, '
                           '...]; every code is rendered at every pose')

  data = sub.add_parser("make-data", allow_abbrev=False,
                        help="generate the synthetic face data set")
  data.add_argument("--name", default="synthetic_faces",
                    choices=["synthetic_faces"])
  data.add_argument("--identities", type=int, default=96,
                    help="training identities")
  data.add_argument("--test-identities", type=int, default=None,
                    help="held-out identities (default max(2, N // 8))")
  data.add_argument("--views", type=int, default=8)
  data.add_argument("--size", type=int, default=64)
  data.add_argument("--seed", type=int, default=0)
  data.add_argument("--data-dir", default="data")

  pretrain = sub.add_parser(
      "pretrain-identity", allow_abbrev=False,
      help="pretrain E2 with an ArcFace/CosFace margin loss on identity "
           "labels; reports verification accuracy on held-out identities")
  pretrain.add_argument("--workdir", required=True)

  recon = sub.add_parser(
      "reconstruct", allow_abbrev=False,
      help="3D face from photos: pose, new views, depth, orbit, mesh")
  recon.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER")
  recon.add_argument("--workdir", required=True)
  recon.add_argument("--out", required=True, help="output directory")
  recon.add_argument("--refine-steps", type=int, default=0,
                     help="test-time optimisation steps (0: feed-forward)")
  recon.add_argument("--refine-lr", type=float, default=None,
                     help="step size (default: the run's config.refine.lr)")
  recon.add_argument("--tune-generator", action="store_true",
                     help="then fine-tune G per image (pivotal tuning)")
  recon.add_argument("--mesh-resolution", type=int, default=128,
                     help="marching-cubes grid side; 0 skips the mesh")
  recon.add_argument("--mesh-level", type=float, default=None,
                     help="surface density (default: the median density "
                          "at the rendered depth)")

  export = sub.add_parser(
      "export-mesh", allow_abbrev=False,
      help="mesh, views and orbit of prior samples or of saved codes")
  export.add_argument("--workdir", required=True)
  export.add_argument("--out", required=True)
  export.add_argument("--seed", type=int, default=0)
  export.add_argument("--num-faces", type=int, default=1)
  export.add_argument("--codes", default=None,
                      help="codes.npz written by `jaxface reconstruct`")
  export.add_argument("--mesh-resolution", type=int, default=128)
  export.add_argument("--mesh-level", type=float, default=None)

  evaluate = sub.add_parser(
      "evaluate", allow_abbrev=False,
      help="reconstruction metrics on held-out synthetic identities")
  evaluate.add_argument("--workdir", required=True)
  evaluate.add_argument("--out", default=None,
                        help="JSON path (default WORKDIR/eval/...)")
  evaluate.add_argument("--refine-steps", type=int, default=0)
  evaluate.add_argument("--tune-generator", action="store_true",
                        help="then fine-tune G per identity for as many "
                             "steps (pivotal tuning)")
  evaluate.add_argument("--every-stage", action="store_true",
                        help="also score Q's estimate and the refined codes "
                             "on the way, each in its default file, in one "
                             "pass")
  evaluate.add_argument("--num-identities", type=int, default=None)
  evaluate.add_argument("--test-identities", type=int, default=None,
                        help="score the held-out identities of the run's "
                             "data built with this many (the same training "
                             "identities; `make-data --test-identities N`); "
                             "default files get _ids<N>")
  evaluate.add_argument("--judge", default=None,
                        help="identity judge directory (default: the run's "
                             "identity.judge_dir)")
  evaluate.add_argument("--mesh-resolution", type=int, default=64,
                        help="grid side of the scored meshes; 0 skips them")
  evaluate.add_argument("--sets", default="clean,wild",
                        help="held-out sets to score: clean, wild or both")

  giraffe = sub.add_parser(
      "import-giraffe", allow_abbrev=False,
      help="an official GIRAFFE checkpoint (model.pt) as a jaxface run")
  giraffe.add_argument("checkpoint", metavar="CHECKPOINT")
  giraffe.add_argument("--workdir", required=True)

  ident = sub.add_parser(
      "import-identity", allow_abbrev=False,
      help="convert a public PyTorch face-ID checkpoint (E2) to Flax")
  ident.add_argument("--arch", required=True,
                     choices=["lightcnn29v2", "iresnet50", "iresnet100"])
  ident.add_argument("--checkpoint", required=True,
                     help=".safetensors, or .pt/.pth read with "
                          "torch.load(weights_only=True)")
  ident.add_argument("--out", required=True, help="output directory")
  return parser


def _fail(message: str, code: int = 1):
  print(f"jaxface: error: {message}", file=sys.stderr)
  sys.exit(code)


def _config_file(rest: list[str]):
  """The config of ``--config=FILE`` and its ``--config.*`` overrides."""
  try:
    flags.FLAGS(["jaxface"] + rest)
  except flags.Error as e:
    _fail(str(e).strip().splitlines()[0], 2)
  except (AttributeError, KeyError) as e:
    # config_flags reports an override of a key the config lacks this way.
    bad = [a.split("=")[0] for a in rest if a.startswith("--config.")]
    _fail(f"unknown config key in {' '.join(bad)}: {e}".replace('"', ""), 2)
  except (ValueError, TypeError) as e:
    _fail(f"invalid config override: {e}", 2)
  try:
    config = _CONFIG.value
    if config is not None:
      config.keys()  # touches the lazily loaded config
  except OSError as e:  # config_flags defers load errors to first access
    lines = [l.strip() for l in str(e).splitlines() if l.strip()]
    _fail(f"cannot load config {flags.FLAGS['config'].config_filename}: "
          f"{lines[-1]}", 2)
  if config is None:
    _fail("--config is required, e.g. --config=configs/small_cpu.py", 2)
  return config


# What ``--config`` means to each command. "file": a config file (required)
# and its overrides; a section name: overrides of that section of the run's
# own config.json; absent: nothing, so any --config is refused.
_CONFIG_USE = {"train": "file", "pretrain-identity": "file",
               "import-giraffe": "file", "reconstruct": "refine",
               "evaluate": "refine"}


def _config_arguments(args, rest: list[str]):
  """(config, overrides) for ``command``; a one-line error where unused."""
  command = args.command
  use = _CONFIG_USE.get(command)
  if command == "sweep":  # exporting a member reads the member's config
    use = None if args.export_member is not None else "file"
  if use == "file":
    return _config_file(rest), []
  if rest:
    given = " ".join(a.split("=")[0] for a in rest)
    if use is None or any(not a.startswith(f"--config.{use}.")
                          for a in rest):
      where = ("it takes no config options" if use is None else
               f"only --config.{use}.* applies to it (the rest is the "
               f"run's config.json)")
      _fail(f"{command} does not use {given}: {where}", 2)
  return None, rest


def _distributed(args) -> dict:
  """``jax.distributed.initialize`` arguments, or {} for one process."""
  explicit = dict(coordinator_address=args.coordinator,
                  num_processes=args.num_processes,
                  process_id=args.process_id)
  given = {k: v for k, v in explicit.items() if v is not None}
  if given and len(given) < 3:
    _fail("--coordinator, --num-processes and --process-id go together", 2)
  if not (given or args.distributed):
    return {}
  return dict(distributed=given or True)


def _dispatch(args, config, overrides) -> dict | None:
  """Calls the command's handler in ``jaxface.commands``."""
  # Imported after parsing so that `--help` and usage errors are instant.
  from jaxface import commands  # pylint: disable=g-import-not-at-top
  handlers = {
      "train": lambda: commands.train(config, args.workdir,
                                      **_distributed(args)),
      "sweep": lambda: commands.sweep(
          config, args.grid, args.workdir, metric=args.metric,
          export_member=args.export_member, out=args.out,
          **_distributed(args)),
      "pretrain-identity": lambda: commands.pretrain_identity(config,
                                                              args.workdir),
      "make-data": lambda: commands.make_data(
          data_dir=args.data_dir, identities=args.identities,
          test_identities=args.test_identities, views=args.views,
          size=args.size, seed=args.seed),
      "render": lambda: commands.render(
          args.workdir, args.out, seed=args.seed, num_faces=args.num_faces,
          num_views=args.num_views, codes=args.codes, poses=args.poses),
      "import-giraffe": lambda: commands.import_giraffe(
          args.checkpoint, config, args.workdir),
      "reconstruct": lambda: commands.reconstruct(
          args.inputs, args.workdir, args.out,
          refine_steps=args.refine_steps, refine_lr=args.refine_lr,
          tune_generator=args.tune_generator,
          mesh_resolution=args.mesh_resolution, mesh_level=args.mesh_level,
          overrides=overrides),
      "export-mesh": lambda: commands.export_mesh(
          args.workdir, args.out, seed=args.seed, num_faces=args.num_faces,
          codes=args.codes, mesh_resolution=args.mesh_resolution,
          mesh_level=args.mesh_level),
      "evaluate": lambda: commands.evaluate(
          args.workdir, args.out, refine_steps=args.refine_steps,
          tune_generator=args.tune_generator, every_stage=args.every_stage,
          num_identities=args.num_identities,
          test_identities=args.test_identities, overrides=overrides,
          judge=args.judge, mesh_resolution=args.mesh_resolution,
          sets=[s for s in args.sets.split(",") if s]),
      "import-identity": lambda: commands.import_identity(
          args.arch, args.checkpoint, args.out),
  }
  return handlers[args.command]()


def main(argv: list[str]) -> None:
  args, rest = _parser().parse_known_args(argv[1:])
  unknown = [a for a in rest if a.startswith("-")
             and not a.startswith("--config")]
  if unknown:
    _fail(f"unrecognized arguments: {' '.join(unknown)}", 2)
  config, overrides = _config_arguments(args, rest)
  # Library chatter (tfds config notices, orbax info) would bury the progress
  # bar; JAXFACE_VERBOSE=1 brings it back.
  if not os.environ.get("JAXFACE_VERBOSE"):
    logging.set_verbosity(logging.ERROR)
  try:
    result = _dispatch(args, config, overrides)
  except errors.Preempted as e:
    print(f"jaxface: {e}", file=sys.stderr)
    sys.exit(e.exit_code)
  except errors.JaxfaceError as e:
    _fail(str(e))
  except KeyboardInterrupt:
    _fail("interrupted", 130)
  # Commands that skip bad inputs (reconstruct) list them under "failed",
  # each already reported in one line.
  if isinstance(result, dict) and result.get("failed"):
    sys.exit(1)


def run():
  main(sys.argv)


if __name__ == "__main__":
  run()
