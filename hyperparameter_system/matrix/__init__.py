"""The matrix: what one experiment's cells are, planned once.

``context`` checks an experiment's models, categories and templates once and
plans each cell from them; ``checks`` holds the trainer's value rules applied
at plan time; ``option_settings`` works out what a category option sets in a
model's config, trying it on ``scratch``, a reusable copy of the model's base
that notes what is set and read; ``planned_config`` carries a cell's config as
its model's base plus the keys it sets; ``cell`` is the one planned cell every later stage reads;
``naming`` makes safe file, run and project names. The entry point that
drives them is ``hyperparameter_configs`` at the package root. Nothing here
imports torch or wandb.
"""
