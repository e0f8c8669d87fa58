"""The papers' configurations (and tiny ones that run on a CPU), by name."""

from keras_layerlock.recipes.layerlock_recipes import RECIPES
from keras_layerlock.recipes.layerlock_recipes import build
from keras_layerlock.recipes.layerlock_recipes import recipe_callbacks
from keras_layerlock.recipes.layerlock_recipes import scaled_schedule
