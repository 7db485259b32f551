"""Does Q pair better with the live generator than with its EMA?

Q is trained against the live generator, while inference (``evaluate``,
``reconstruct``) renders Q's codes with the EMA generator. This scores one
finished run both ways on the clean held-out set (feed-forward, no meshes)
and prints one JSON line per generator.

  python experiments/2026-11-30_quality/ema_or_live.py runs/quality/A7_triplane
"""

import json
import sys

import jax
from flax import nnx

from jaxface import checkpoint as checkpoint_lib
from jaxface import evaluate as evaluate_lib
from jaxface import generator
from jaxface import sharding
from jaxface import workdir as workdir_lib

KEYS = ("psnr_head_novel", "psnr_head_input", "ssim_head_novel",
        "pose_error_deg", "opacity_head_novel",
        "depth_abs_rel_head_offset_novel", "judge_cosine_novel_of_ceiling")


def main():
  workdir = sys.argv[1]
  config, networks, step = workdir_lib.restore(workdir)
  abstract = nnx.to_pure_dict(nnx.state(nnx.eval_shape(
      lambda: generator.Generator(config, rngs=nnx.Rngs(0)))))
  replicated = sharding.replicated(sharding.make_mesh(config))
  target = dict(g_params=jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
      abstract))
  ckpt = checkpoint_lib.Checkpointer(
      f"{workdir}/{workdir_lib.CHECKPOINT_DIR}", config.ckpt, read_only=True)
  live = ckpt.restore_arrays(target, step, partial=True)["g_params"]
  ckpt.close()
  judge = workdir_lib.judge(config, None)
  for name, g_params in (("ema", networks.g_params), ("live", live)):
    results = evaluate_lib.evaluate(
        config, networks.replace(g_params=g_params), judge=judge,
        mesh_resolution=0, sets=("clean",))
    print(json.dumps(dict(workdir=workdir, step=step, generator=name,
                          **{k: results[f"clean/{k}"] for k in KEYS})))


if __name__ == "__main__":
  main()
