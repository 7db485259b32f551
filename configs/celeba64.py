"""GIRAFFE's CelebA 64x64 setting: the base every other config overrides.

Every value is the official GIRAFFE's (autonomousvision/giraffe,
configs/default.yaml + configs/64res/celeba_64.yaml): an imported official
checkpoint renders here what it renders there. Where jaxface has another
choice, the comment names it and says why; the demo (small_cpu.py) uses
several of them.
"""

import ml_collections


def get_config(arg=None):
  """Returns the config; ``arg`` is unused (kept for config_flags' syntax)."""
  del arg
  config = ml_collections.ConfigDict()
  config.seed = 0

  # Stage 1: pose prior (GIRAFFE's azimuth/elevation fractions of a sphere).
  config.camera = dict(
      # Yaw +-35 degrees around the face: GIRAFFE's object rotation_range
      # (a fraction r of a turn is yaw 360 (r - 0.5) degrees).
      azimuth_range=(0.40278, 0.59722),
      elevation_range=(0.4167, 0.5),  # pitch 0..9.6 degrees, looking down
      radius_range=(2.732, 2.732),
      fov_degrees=10.0,
  )
  # Stages 2 and 4: ray sampling and compositing.
  config.render = dict(
      feature_size=16,  # feature image is 16x16 for 64x64 output
      num_samples=64,
      # "giraffe": linspace(near, far) of camera-axis depth with the end
      # points, jittered within midpoint intervals in training, the last
      # interval infinite. "bins": jaxface's equal bins of distance (centres,
      # stratified in training), the last interval ending at far.
      depth_sampling="giraffe",
      near=0.5,
      far=6.0,
      # "object": GIRAFFE's fixed camera (yaw 0) and object box turned by the
      # yaw, so the background stays put. "camera": jaxface's camera moved
      # around a fixed object and background.
      yaw="object",
      # "edges": GIRAFFE's rays at linspace(-1, 1, n) of the image plane.
      # "centres": jaxface's rays through pixel centres, the model of the
      # synthetic data's camera and of the renderer's bilinear upsampling.
      pixel_grid="edges",
      # jaxface: in training, each ray through a random point of its pixel
      # rather than the fixed grid point, so that the field is constrained
      # between the grid's rays too. GIRAFFE: off.
      pixel_jitter=False,
      object_scale=0.21,  # half-size of the object box in world units
      box_padding=0.1,  # density is zeroed outside the padded box
      sample_in_box=False,  # GIRAFFE samples all of [near, far]
      # Evaluate the object field only on the samples that can meet its box
      # (exactly the same image: the others have zero density).
      skip_empty_samples=True,
      # Std of the Gaussian noise GIRAFFE adds to raw densities in training
      # (object and background); 0 renders training as evaluation.
      density_noise=1.0,
      density_activation="relu",
      # The object's density is this times the activation: a step of the
      # density head then changes opacity this many times faster (GIRAFFE:
      # 1).
      density_scale=1.0,
  )
  # Stage 3: feature field (object MLP and background MLP).
  config.field = dict(
      # "mlp": GIRAFFE's fully connected field. "triplane": an EG3D-style
      # field, three feature planes made from the shape code by a 2D conv
      # generator (plane_* sizes) and read by a small MLP of `hidden` units;
      # num_layers, skips, pos_freqs and downscale are then unused.
      kind="mlp",
      plane_size=32,
      plane_channels=32,
      plane_width=64,
      # "nearest" or "bilinear" doubling between the plane generator's
      # convolutions (see field.TriPlaneField). Bilinear scored 0.75 dB
      # worse in the demo at 900 steps, with less solid heads, and did not
      # remove the grid from tuned faces (experiments/2026-11-30_quality,
      # "Smooth plane upsampling").
      plane_upsample="nearest",
      # "input" or "film": the shape code enters the plane generator only as
      # its first 4x4 map, or also scales and shifts every level's channels
      # (see field.TriPlaneField). FiLM scored 1 dB lower feed-forward at
      # 64x64 after 1833 steps, within 0.3 dB refined and tuned
      # (experiments/2026-11-30_quality, "A plane generator conditioned at
      # every level").
      plane_conditioning="input",
      # "code" or "planes": the appearance code is one per-image bias of the
      # feature layer (GIRAFFE's), or also makes, with the shape code,
      # three appearance planes that each point reads (see
      # field.TriPlaneField). Density depends on the shape code either way.
      # "planes" costs 30% more a step at 64x64 and, in 1833 steps, made
      # translucent heads (opacity 0.10 inside the head) painted by the
      # renderer: 16.78 dB against "code"'s 18.75-19.40, below copying the
      # input (experiments/2026-11-30_quality, "Appearance planes, and a
      # second seed").
      appearance="code",
      # Axes the fields read points in: "giraffe" (z up, as the official
      # checkpoints) or "jaxface" (this world's; runs written before).
      frame="giraffe",
      hidden=128,
      num_layers=8,
      skips=(4,),
      pos_freqs=10,
      view_freqs=4,
      # GIRAFFE's downscale_p_by: box points in [-1.1, 1.1] (and unit view
      # directions) are halved before sin/cos(2^k pi p), so the lowest
      # octave does not alias p with p - 2 across the box.
      downscale=2.0,
      z_shape_dim=256,
      z_app_dim=256,
      feature_dim=128,
      # "volume": GIRAFFE's second field (bg_* sizes) at every sample, mixed
      # with the object by density. "direction": jaxface's map of ray
      # direction composited behind the object, one evaluation per ray
      # instead of num_samples (and possible with render.sample_in_box).
      # "none": zero features behind the object.
      background="volume",
      bg_hidden=64,
      bg_num_layers=4,
      bg_pos_freqs=10,
      bg_view_freqs=4,
      bg_downscale=12.0,
      z_bg_shape_dim=128,
      z_bg_app_dim=128,
  )
  # Stage 5: neural renderer (GIRAFFE: n_feat 128 at 64x64, RGB skips
  # blurred after each bilinear upsampling).
  # upsample: how each block doubles its feature maps, "nearest" (GIRAFFE)
  # or "bilinear".
  config.neural_renderer = dict(num_features=128, min_features=32, blur=True,
                                upsample="nearest")
  # Stage 6: discriminator and losses.
  config.disc = dict(
      kind="dcgan",
      num_features=512,
      use_bias=False,  # GIRAFFE's DCGAN convs have no bias
      # D (and so R1) sees images in [0, 1], as GIRAFFE. jaxface's earlier
      # (-1, 1) made the same r1_weight a quarter as strong.
      input_range=(0.0, 1.0),
  )
  # Stage 7: the identity branch (the "second loss") and Q's pairing of each
  # real image with its own codes and pose. Every weight 0 is plain GIRAFFE.
  config.loss = dict(
      r1_weight=10.0,
      identity_weight=0.0,  # ||E1(features) - E2(real)||^2 at Q's pose
      identity_random_weight=0.0,  # ... of Q's codes at random poses
      l1_weight=0.0,  # |render at Q's pose - real|
      perceptual_weight=0.0,  # E2 feature-map distance, same pair
      # KL(Q's codes || N(0, I)). At 64x64 after 1833 steps, 1e-4 scored
      # level with the demo's 1e-3 (18.29 dB against 18.33-18.37 over the
      # last five evaluations) (experiments/2026-11-30_quality, "Momentum,
      # and a lighter KL").
      kl_weight=0.0,
      recon_gan_weight=0.0,  # D judges Q's codes at random poses
      pose_regression_weight=0.0,  # Q recovers the pose of generated images
      code_regression_weight=0.0,  # ... and their codes
      # With data.pairs: one view's shape code with the other view's
      # appearance, background and pose (Q's) must render the other view:
      # |render - real| and the E2 feature-map distance. A shape code that
      # explains every view of a person is a 3D shape.
      cross_view_weight=0.0,
      cross_view_perceptual_weight=0.0,
      # Opacity of the renders at Q's pose pushed to 0 or 1 (mean o (1 - o)):
      # solid heads, empty background.
      opacity_binary_weight=0.0,
      # The feature image's first three channels at Q's pose (and, with
      # pairs, of the swap render) as a low-resolution RGB image, drawn by
      # the 3D field alone: L1 to the real image box-filtered to that size
      # (EG3D's raw image).
      raw_rgb_weight=0.0,
      # Q's pose of each real image regressed to the data set's camera label
      # (EG3D trains with labelled poses, estimated for FFHQ by a face
      # reconstruction network). Needs data with ``pose`` labels, such as
      # synthetic_faces; CelebA has none, so off here.
      real_pose_weight=0.0,
      # Both pose terms count pitch errors (radians) this many times: the
      # prior's pitch range is a seventh of its yaw range.
      pose_pitch_weight=1.0,
  )
  config.identity = dict(
      encoder_dir="",  # E2: from `jaxface pretrain-identity` / `import-identity`
      # A second face-recognition network that only evaluation reads, so
      # identity is judged by a network the method never optimised.
      judge_dir="",
      e1_width=32,
      q_width=32,
      q_hidden=256,
      # The side Q reads images at, box-filtered down (0: the data's size).
      q_image_size=0,
      # Scale of Q's posterior noise in the codes its reconstruction terms
      # render: 1 draws from the posterior (a VAE's reparameterisation), 0
      # renders the means.
      code_noise=1.0,
  )
  # Stage 7: optimisers (torch-style RMSprop, as GIRAFFE).
  config.optim = dict(
      kind="rmsprop",
      g_lr=5e-4,
      d_lr=1e-4,
      branch_lr=1e-4,  # the identity branch: Q and E1
      rmsprop_decay=0.99,
      eps=1e-8,
      grad_clip=0.0,  # 0 disables global-norm clipping
      # Adam's first beta (momentum) for G and the identity branch, and for
      # D: 0 as usual for GANs. Unused by rmsprop. 0.9 for G and the branch
      # scored level with 0 at 64x64 after 1833 steps (18.13 dB against
      # 18.33-18.37 over the last five evaluations), with less solid heads
      # (experiments/2026-11-30_quality, "Momentum, and a lighter KL").
      adam_b1=0.0,
      d_adam_b1=0.0,
      # Every learning rate "constant", or "cosine": decayed over
      # train.num_steps to final_lr_fraction of itself.
      schedule="constant",
      final_lr_fraction=0.0,
      ema_decay=0.999,
      # An EMA of Q's weights as well, at this decay, for inference and
      # evaluation (Q trains with its live weights): 0 scores Q's last
      # weights. The generator is always scored with its EMA.
      q_ema_decay=0.0,
  )
  # Stage 9: test-time refinement of a reconstruction (`reconstruct` and
  # `evaluate --refine-steps`): Adam on codes and pose (then, with
  # --tune-generator, on G) against these weighted terms of the training
  # losses; the prior keeps the codes where the generator was trained.
  config.refine = dict(
      lr=0.01,  # codes and pose
      tune_lr=3e-4,  # the generator (pivotal tuning)
      l1_weight=1.0,
      perceptual_weight=1.0,
      identity_weight=0.5,
      prior_weight=1e-4,  # sum ||z||^2
      # Squared pose change from Q's estimate (pitch weighted as in
      # loss.pose_pitch_weight): keeps the pose Q learnt from labels.
      pose_weight=0.0,
      # Pivotal tuning also tunes the neural renderer; False keeps it as
      # trained, so that what tuning adds is in the 3D field.
      tune_renderer=True,
      # Q's pose of a photo (with or without refinement) averaged with its
      # reading of the photo flipped left to right, yaw negated: flip
      # test-time augmentation, for pose priors symmetric about the face.
      # On the demo config's checkpoint it cut the yaw error over the 64
      # held-out images from 4.7 to 3.6 degrees, and the refined input
      # views' pose error from 4.9 to 3.3 (experiments/2026-11-30_quality,
      # "Mirrors").
      mirror_pose=True,
      # L1 and perceptual terms of the photo's mirror image against the same
      # codes rendered at the mirrored pose (-yaw): a symmetric face's
      # second view. 0 leaves it out (and its render: refinement then costs
      # half as much). With tuning, 0.5 added 0.9-1.1 dB beyond 30 degrees
      # of yaw on two checkpoints ("Mirrors"; 1.0 added less).
      mirror_weight=0.5,
  )
  config.data = dict(
      name="synthetic_faces",
      data_dir="data",
      image_size=64,
      train_identities=1024,
      test_identities=64,
      views=8,
      seed=0,
      num_workers=2,
      prefetch=2,
      # Batches of pairs: images 2i and 2i + 1 show one identity from two
      # views (identity-labelled data), for loss.cross_view_weight.
      pairs=False,
      # Half the training examples flipped left to right, their yaw label
      # negated (EG3D's x-flip): a mirrored face is another plausible face.
      mirror=False,
  )
  config.train = dict(
      batch_size=32,
      num_steps=200_000,
      # "g_then_d": GIRAFFE's G step, EMA, then D step, each on freshly
      # rendered fakes (two generator forwards per iteration).
      # "d_then_g": jaxface's D step then G step on one shared render whose
      # pullback G reuses: one generator forward per iteration.
      update_order="g_then_d",
      # The identity branch (Q's renders of real images and their losses)
      # on every k-th step only, plain GAN steps between: a lazy branch, as
      # StyleGAN2's lazy R1. Its terms keep their weights (not times k):
      # Adam scales each update anyway. 1: every step.
      branch_every=1,
      # The branch reads only the batch's first this many images (even:
      # pairs stay whole); D and G's GAN terms read all. 0: the whole batch.
      branch_batch_size=0,
      # Stop after this much wall time, with a checkpoint (0: no limit);
      # comparisons at equal cost set it.
      max_minutes=0.0,
      # "bfloat16": G's field and renderer and D compute in bfloat16, with
      # float32 parameters, gradients and optimiser states (accelerators;
      # on a CPU without AMX float32 is faster).
      compute_dtype="float32",
      # False: XLA:CPU compiles the step's convolutions itself, not in
      # YNNPACK (jaxface/xla_cpu.py); faster for the demo's small images.
      ynn_convolutions=True,
  )
  # `jaxface sweep`: members batched under jax.vmap ("vmap"), or the step
  # written out once per member ("unroll": XLA:CPU runs vmap's grouped
  # convolutions slowly); "auto" unrolls on CPU only.
  config.sweep = dict(members_in="auto")
  # Device mesh: the batch is split over `data`; parameters are replicated.
  # `jaxface sweep` adds a `member` axis: its members over `member` devices.
  config.mesh = dict(data=-1, member=1)  # data=-1: all (remaining) devices
  config.ckpt = dict(every_steps=2000, max_to_keep=3, async_save=True)
  config.log = dict(
      every_steps=100,
      images_every_steps=2000,
      num_sample_faces=8,
      num_sample_views=5,
      progress_bar=True,
      # Held-out reconstruction metrics (runs with Q on synthetic_faces);
      # 0 disables them.
      eval_every_steps=2000,
      eval_num_identities=8,  # the first test identities, one batch
  )
  return config
