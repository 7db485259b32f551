"""Pivotal tuning of K identities: one at a time, or all at once under vmap.

``evaluate --tune-generator`` tunes one copy of the generator per identity,
one identity per compiled call (``reconstruct.tune``). Under ``jax.vmap``
the K copies would train in one call: every tuned matmul becomes a batched
matmul with K weight matrices. This times both on a trained run's first K
held-out identities (clean set, their input views refined first as
``evaluate`` refines them) and prints one JSON line per way: seconds for
the K tunings after a first, compiling, pass, and how far the vmapped
weights end from the looped ones.

  python experiments/bench_tune_batched.py --workdir runs/demo --identities 8
"""

import argparse
import json
import platform
import time

import jax
import jax.numpy as jnp
import ml_collections

from jaxface import reconstruct
from jaxface import workdir as workdir_lib
from jaxface.data import held_out as held_out_lib


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--workdir", default="runs/demo")
  parser.add_argument("--identities", type=int, default=8)
  parser.add_argument("--steps", type=int, default=100)
  args = parser.parse_args()
  config, networks, step = workdir_lib.restore(args.workdir)
  k, steps = args.identities, args.steps
  held_out = held_out_lib.load(config.data, k, "clean")
  inputs = jnp.asarray(held_out.images[:, held_out_lib.INPUT_VIEW])
  estimate = reconstruct.encode(networks, inputs,
                                mirror=reconstruct.mirror_pose(config))
  estimate, _, _ = reconstruct.refine(networks, config, inputs, estimate,
                                      steps=steps)
  frozen = ml_collections.FrozenConfigDict(config)

  def one_at_a_time():
    return [reconstruct.tune(networks, config, inputs[i:i + 1],
                             jax.tree.map(lambda a, i=i: a[i:i + 1], estimate),
                             steps=steps)[0] for i in range(k)]

  @jax.jit
  def all_at_once(estimate, images01):
    def one(estimate, image01):
      # reconstruct._optimise is what reconstruct.tune runs for one image.
      g_params, _, _ = reconstruct._optimise(  # pylint: disable=protected-access
          networks, networks.g_params,
          jax.tree.map(lambda a: a[None], estimate), image01[None],
          steps=steps, lr=config.refine.tune_lr, config=frozen, tune=True)
      return g_params
    return jax.vmap(one)(estimate, images01)

  images01 = inputs.astype(jnp.float32) / 255.0
  ways = {"loop": one_at_a_time,
          "vmap": lambda: all_at_once(estimate, images01)}
  tuned = {}
  for name, run in ways.items():
    start = time.perf_counter()
    jax.block_until_ready(run())  # compiles
    first = time.perf_counter() - start
    start = time.perf_counter()
    tuned[name] = jax.block_until_ready(run())
    seconds = time.perf_counter() - start
    row = dict(way=name, workdir=args.workdir, step=step, identities=k,
               steps=steps, first_pass_s=round(first, 2),
               seconds=round(seconds, 2),
               seconds_per_identity=round(seconds / k, 2),
               machine=platform.processor() or platform.machine(),
               devices=str(jax.devices()[0].platform))
    if name == "vmap":
      row["max_abs_weight_difference"] = max(
          float(jnp.max(jnp.abs(batched[i] - looped)))
          for i in range(k)
          for batched, looped in zip(jax.tree.leaves(tuned["vmap"]),
                                     jax.tree.leaves(tuned["loop"][i])))
      row["max_abs_weight_change"] = max(
          float(jnp.max(jnp.abs(looped - start_weight)))
          for i in range(k)
          for looped, start_weight in zip(jax.tree.leaves(tuned["loop"][i]),
                                          jax.tree.leaves(networks.g_params)))
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
