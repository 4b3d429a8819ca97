"""The YACS schema of one training run: every key a cell's config may set.

A rendered cell config is this tree merged with a model profile, the
experiment's overrides and one category option, in that order. Keys that are
not here do not exist: a typo in an override is an error at plan time, not a
silently ignored setting. Every key is commented with what it does and the
values it takes.
"""

from __future__ import annotations

from yacs.config import CfgNode as CN

_C = CN()

# ---------------------------------------------------------------- model
_C.MODEL = CN()
# Registered model name: "small_cnn", any timm name ("resnet50.tv2_in1k"),
# or a torchvision name prefixed "tv/" ("tv/resnet18").
_C.MODEL.NAME = "small_cnn"
# Load pretrained weights through timm's / torchvision's own loading path.
_C.MODEL.PRETRAINED = False
# Optional local weights file (a state dict); overrides PRETRAINED's download.
_C.MODEL.PRETRAINED_PATH = ""
# Dropout before the classifier (0 disables).
_C.MODEL.DROPOUT = 0.0
# Stochastic depth rate for timm models that support it.
_C.MODEL.DROP_PATH = 0.0
# Number of classes; 0 means "take it from the data".
_C.MODEL.NUM_CLASSES = 0

# ---------------------------------------------------------------- input
_C.INPUT = CN()
# Square side in pixels images are resized to for training and evaluation.
_C.INPUT.SIZE = 32
# Per-channel normalisation (ImageNet statistics by default).
_C.INPUT.PIXEL_MEAN = [0.485, 0.456, 0.406]
_C.INPUT.PIXEL_STD = [0.229, 0.224, 0.225]
# Train-time augmentation switches.
_C.INPUT.RANDOM_RESIZED_CROP = False  # RandomResizedCrop(SIZE, scale=RRC_SCALE)
_C.INPUT.RRC_SCALE = [0.5, 1.0]  # area fraction range of RandomResizedCrop
_C.INPUT.HFLIP_PROB = 0.0  # probability of a horizontal flip (0 disables)
_C.INPUT.ROTATION_DEG = 0.0  # max absolute random rotation in degrees (0 disables)

# ---------------------------------------------------------------- data
_C.DATASETS = CN()
# "digits" (scikit-learn's bundled 8x8 digits, no download), "imagefolder"
# (ROOT/train and ROOT/val with one sub-folder per class) or "csv"
# (TRAIN_CSV / VAL_CSV files of path,label rows).
_C.DATASETS.NAME = "digits"
# Root folder of an imagefolder dataset; base for relative paths in CSV files.
_C.DATASETS.ROOT = ""
_C.DATASETS.TRAIN_CSV = ""
_C.DATASETS.VAL_CSV = ""
# digits only: fraction held out for validation (stratified, seeded split).
_C.DATASETS.VAL_FRACTION = 0.2
# Use at most this many training samples (0 = all); for smoke runs.
_C.DATASETS.MAX_TRAIN_SAMPLES = 0

# ---------------------------------------------------------------- loader
_C.DATALOADER = CN()
# Samples per optimizer step (before gradient accumulation).
_C.DATALOADER.BATCH_SIZE = 64
# Loader worker processes (0 loads in the training process).
_C.DATALOADER.NUM_WORKERS = 0
# Pin host memory for faster host-to-GPU copies (ignored on the CPU).
_C.DATALOADER.PIN_MEMORY = True

# ---------------------------------------------------------------- solver
_C.SOLVER = CN()
# One of config.values.OPTIMIZER_NAMES: "AdamW", "Adam" or "SGD".
_C.SOLVER.OPTIMIZER = "AdamW"
_C.SOLVER.BASE_LR = 1e-3
_C.SOLVER.WEIGHT_DECAY = 1e-4
# SGD momentum and Nesterov switch.
_C.SOLVER.MOMENTUM = 0.9
_C.SOLVER.NESTEROV = False
# Adam / AdamW coefficients.
_C.SOLVER.BETAS = [0.9, 0.999]
_C.SOLVER.EPS = 1e-8
# Training length in epochs.
_C.SOLVER.MAX_EPOCHS = 5
# "none", "CosineAnnealingLR", "OneCycleLR", "StepLR" or "MultiStepLR".
# OneCycleLR steps every iteration; the others step every epoch.
_C.SOLVER.SCHEDULER = "none"
# CosineAnnealingLR: period in epochs (0 = MAX_EPOCHS) and floor.
_C.SOLVER.T_MAX = 0
_C.SOLVER.ETA_MIN = 0.0
# OneCycleLR: peak lr (0 = 10 x BASE_LR) and fraction of steps spent rising.
_C.SOLVER.MAX_LR = 0.0
_C.SOLVER.PCT_START = 0.3
# StepLR period in epochs and the decay factor shared with MultiStepLR.
_C.SOLVER.STEP_SIZE = 2
_C.SOLVER.GAMMA = 0.1
# MultiStepLR epochs at which lr is multiplied by GAMMA.
_C.SOLVER.MILESTONES = [3, 4]
# Warmup before the scheduler: iterations (0 disables), starting factor of
# BASE_LR, and "linear" (ramp) or "constant" (hold the factor).
_C.SOLVER.WARMUP_ITERS = 0
_C.SOLVER.WARMUP_FACTOR = 0.1
_C.SOLVER.WARMUP_METHOD = "linear"
# Mixed precision: autocast + GradScaler with float16 on CUDA; on the CPU
# only bfloat16 autocast is used (float16 AMP is turned off there).
_C.SOLVER.AMP = False
_C.SOLVER.AMP_DTYPE = "float16"
# Clip the global gradient norm to this value (0 disables).
_C.SOLVER.GRAD_CLIP = 0.0
# Accumulate gradients over this many batches per optimizer step.
_C.SOLVER.GRAD_ACCUM = 1

# ---------------------------------------------------------------- loss
_C.LOSS = CN()
# "CrossEntropyLoss", "FocalLoss" or "LabelSmoothingLoss".
_C.LOSS.NAME = "CrossEntropyLoss"
# FocalLoss balance factor and focusing exponent.
_C.LOSS.FOCAL_ALPHA = 0.25
_C.LOSS.FOCAL_GAMMA = 2.0
# LabelSmoothingLoss: probability mass spread over the other classes.
_C.LOSS.LABEL_SMOOTHING = 0.1

# ---------------------------------------------------------------- early stopping
_C.EARLY_STOPPING = CN()
# Stop when METRIC.NAME has not improved by MIN_DELTA for PATIENCE evaluations.
_C.EARLY_STOPPING.ENABLE = False
_C.EARLY_STOPPING.PATIENCE = 3
_C.EARLY_STOPPING.MIN_DELTA = 0.0

# ---------------------------------------------------------------- metric
_C.METRIC = CN()
# The metric that decides "best" (checkpoints, early stopping, the summary):
# one of val/acc, val/f1, val/loss. The runner sets it from experiment.metric.
_C.METRIC.NAME = "val/acc"
_C.METRIC.GOAL = "maximize"  # "maximize" | "minimize"

# ---------------------------------------------------------------- checkpoints
_C.CHECKPOINT = CN()
_C.CHECKPOINT.ENABLE = True
# How many best checkpoints to keep (the last one is always kept too).
_C.CHECKPOINT.N_SAVED = 1

# Evaluate every EVAL_PERIOD epochs; log training scalars every LOG_PERIOD iterations.
_C.EVAL_PERIOD = 1
_C.LOG_PERIOD = 10

# ---------------------------------------------------------------- wandb
_C.WANDB = CN()
# "auto" (online if an API key or netrc login exists, else offline),
# "online", "offline" or "disabled". WANDB_MODE in the environment wins.
_C.WANDB.MODE = "auto"
# Empty values are taken from the runner's WANDB_* environment.
_C.WANDB.PROJECT = ""
_C.WANDB.ENTITY = ""
_C.WANDB.NAME = ""
_C.WANDB.GROUP = ""
_C.WANDB.TAGS = []
# Call wandb.watch on the model (gradients and parameters histograms).
_C.WANDB.WATCH = False
# Log one grid of sample images (the first validation batch) at the start.
_C.WANDB.LOG_IMAGES = True

# ---------------------------------------------------------------- tensorboard
_C.TENSORBOARD = CN()
# Also write TensorBoard event files under OUTPUT_DIR/tb.
_C.TENSORBOARD.ENABLE = False

# Seed for python, numpy, torch and loader workers.
_C.SEED = 42
# "auto" (CUDA if available, else CPU), "cpu", or "cuda"/"cuda:N".
_C.DEVICE = "auto"
# Where metrics.jsonl, result.json, log.txt, checkpoints and wandb/ go.
_C.OUTPUT_DIR = "./output"


def get_cfg_defaults() -> CN:
    """Return a fresh, unfrozen copy of the defaults (callers may merge into it)."""
    return _C.clone()
