import warnings

import keras
from keras import ops

from keras_layerlock.callbacks.fit_defaults import with_fit_defaults
from keras_layerlock.callbacks.integer_logs_progbar_logger import IntegerLogsProgbarLogger
from keras_layerlock.layerlock.layerlock_learning_rate import LayerLockLearningRate
from keras_layerlock.layerlock.optimizer_restriction import restrict_optimizer
from keras_layerlock.metrics.last_value import LastValue
from keras_layerlock.models.keras_hub_task import KerasHubTask
from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone
from keras_layerlock.utils.keras_internals import optimizer_learning_rate_object
from keras_layerlock.utils.video_input_checks import check_video_array
from keras_layerlock.utils.weights_file import check_weight_paths
from keras_layerlock.utils.weights_file import expected_weight_paths
from keras_layerlock.utils.weights_file import stored_weight_paths


class PretrainingModel(KerasHubTask):
    """The pretraining core: base class of every self-supervised model here.

    Masked models (`LayerLockMAE`, `VJEPA`) and the methods built on them
    share one base, so that a new method gets the compile conventions, the
    frozen-prefix encoding and LayerLock support by subclassing it; an EMA
    teacher is a reusable `EMATeacher`. LayerLock itself is a schedule plus
    a callback (`keras_layerlock.layerlock`) that drives any subclass.

    Holds what every model shares (Erdogan et al., "LayerLock:
    Non-collapsing Representation Learning with Progressive Freezing",
    2025): the LayerLock state (`num_frozen_layers`, `target_layer`), how a
    state change sets `layer.trainable` and narrows a built optimizer while
    keeping its moments, the optimizer conventions of `compile` (no weight
    decay on LayerNorm parameters, biases or tokens; the learning rate
    wrapped for re-warm-ups; the optimizer built on every variable LayerLock
    may freeze), and the `num_frozen_layers` / `target_layer` entries of the
    `fit` logs.

    Every pretraining model is a keras-hub `Task`: `save_to_preset(dir)`
    writes the backbone (`config.json`, `model.weights.h5`), the whole
    model's config (`task.json`: decoder or predictor, EMA teacher,
    LayerLock state) and every weight outside the backbone
    (`task.weights.h5`); `from_preset(dir)` (on the class or on
    `PretrainingModel`, which finds the class in `task.json`) rebuilds it with every weight, ready to
    `compile` and train again. Training reads arrays, `PyDataset`s and
    `tf.data` as `keras.Model` does (not through a keras-hub
    preprocessor).

    Subclasses define `num_encoder_layers`, call `_init_layerlock` at the
    end of `__init__`, call `_track_layerlock_state` in `compute_loss`, and
    may override `_target_head_layers`, `_set_target_heads` and
    `_on_freeze`.

    Args:
        backbone: a `VideoViTBackbone` (the encoder whose blocks freeze).
        **kwargs: base `keras.Model` arguments.

    Example:
    ```python
    # Subclasses: LayerLockMAE, VJEPA.
    assert isinstance(model, keras_layerlock.PretrainingModel)
    model = keras_layerlock.LayerLockMAE(backbone)
    model.set_layerlock_state(2, 2)  # blocks 1-2 frozen, target block 2
    ```
    """

    backbone_cls = VideoViTBackbone

    def __init__(self, backbone, **kwargs):
        # `frozen_depth` was the name of `num_frozen_layers` in 0.1
        # ("depth" also named the depth-map task); old configs still load.
        self._legacy_num_frozen_layers = kwargs.pop("frozen_depth", None)
        if self._legacy_num_frozen_layers is not None:
            warnings.warn(
                "`frozen_depth` is deprecated; pass `num_frozen_layers` instead.",
                DeprecationWarning,
                stacklevel=3,
            )
        super().__init__(**kwargs)
        if isinstance(backbone, dict):
            backbone = keras.layers.deserialize(backbone)
        if not isinstance(backbone, VideoViTBackbone):
            raise ValueError(
                f"`backbone` must be a VideoViTBackbone; received {type(backbone).__name__}."
            )
        self.backbone = backbone
        self.num_frozen_layers_tracker = LastValue(name="num_frozen_layers")
        self.target_layer_tracker = LastValue(name="target_layer")
        self.num_frozen_layers = 0
        self.target_layer = 0

    @classmethod
    def from_config(cls, config):
        # `__init__` deserializes a backbone config itself.
        return cls(**config)

    @staticmethod
    def get_layout_map(device_mesh, model_parallel_dim_name="model",
                       data_parallel_dim_name="batch"):
        """A `keras.distribution.LayoutMap` for a pretraining model: the
        backbone's layout (`VideoViTBackbone.get_layout_map`) for the
        encoder, its EMA teacher (same variable paths, same layout) and the
        decoder's or predictor's blocks, plus their input / output
        projections and the output heads. Optimizer moments follow their
        variables.

        Args:
            device_mesh: a `keras.distribution.DeviceMesh`.
            model_parallel_dim_name: the mesh axis the weights are split over.
            data_parallel_dim_name: the mesh axis the batch is split over.

        Returns:
            `keras.distribution.LayoutMap`.

        Example:
        ```python
        mesh = keras.distribution.DeviceMesh(
            (4, 2), ("batch", "model"), keras.distribution.list_devices())
        keras.distribution.set_distribution(keras.distribution.ModelParallel(
            layout_map=LayerLockMAE.get_layout_map(mesh), batch_dim_name="batch"))
        model = LayerLockMAE(VideoViTBackbone.from_preset("video_vit_b"))
        ```
        """
        from keras_layerlock.distribution.layout_maps import pretraining_layout_map

        return pretraining_layout_map(device_mesh, model_parallel_dim_name,
                                      data_parallel_dim_name)

    def _init_layerlock(self, num_frozen_layers, target_layer):
        self.built = True
        legacy = self._legacy_num_frozen_layers
        if legacy is not None:
            if num_frozen_layers not in (0, legacy):
                raise ValueError(
                    "Received both `num_frozen_layers` and its deprecated name "
                    f"`frozen_depth`, with different values ({num_frozen_layers} and "
                    f"{legacy}). Pass `num_frozen_layers` alone."
                )
            num_frozen_layers = legacy
        self.set_layerlock_state(num_frozen_layers, target_layer)

    # ------------------------------------------------------------------ state
    def __getattr__(self, name):
        # The deprecated name, resolved only when asked for: as a property
        # it would warn on every save, since Keras' saving walks `dir()`.
        if name == "frozen_depth" and "num_frozen_layers" in self.__dict__:
            warnings.warn(
                "`frozen_depth` is deprecated; use `num_frozen_layers`.",
                DeprecationWarning,
                stacklevel=2,
            )
            return self.num_frozen_layers
        parent = getattr(super(), "__getattr__", None)
        if parent is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return parent(name)

    @property
    def num_encoder_layers(self):
        """Backbone blocks that belong to the encoder (and may be frozen)."""
        return self.backbone.num_layers

    def _target_head_layers(self):
        return []

    def _set_target_heads(self, target_layer):
        """Sets the `trainable` flags of the per-target heads."""

    def _on_freeze(self, old_num_frozen, new_num_frozen):
        """Called with the variables current, before the flags change."""

    def _decode_with_backbone_blocks(self, query_token, context, context_positions,
                                     query_positions, context_valid=None, training=None,
                                     grid_shape=None):
        """The backbone's blocks after the encoder over context plus queries.

        One `query_token` per position in `query_positions` (carrying that
        position) joins the encoder's `context` tokens; returns the queries'
        outputs of the last block. `context_valid` (bool `(B, n_context)`)
        hides padding context tokens from every token; `grid_shape` is the
        clip's token grid (for position embeddings that depend on it).
        """
        backbone = self.backbone
        batch_size = ops.shape(context)[0]
        num_context = context.shape[1]
        num_query = query_positions.shape[1]
        queries = ops.cast(query_token, self.compute_dtype)
        queries = ops.broadcast_to(queries[None, None, :], (batch_size, num_query, queries.shape[0]))
        queries = backbone.add_position_embedding(queries, query_positions, grid_shape)
        x = ops.concatenate([context, queries], axis=1)
        positions = ops.concatenate(
            [ops.cast(context_positions, "int32"), ops.cast(query_positions, "int32")], axis=1)
        attention_mask = None
        if context_valid is not None:
            attention_mask = ops.concatenate(
                [ops.cast(context_valid, "bool"), ops.ones((batch_size, num_query), "bool")],
                axis=1)
        x = backbone.encode(
            x, positions, self.num_encoder_layers, backbone.num_layers,
            attention_mask=attention_mask, training=training,
        )[-1]
        return x[:, num_context:]

    def freezable_layers(self):
        """Layers whose `trainable` flag LayerLock controls."""
        layers = [self.backbone.patch_embedding]
        if self.backbone.position_embedding is not None:
            layers.append(self.backbone.position_embedding)
        layers += self.backbone.transformer_layers[: self.num_encoder_layers]
        return layers + self._target_head_layers()

    def set_layerlock_state(self, num_frozen_layers: int, target_layer: int) -> None:
        """Freezes the first `num_frozen_layers` encoder blocks; sets the target.

        The patch embedding (and learned position table) freezes with the
        first block: freezing blocks but not the embedding would still
        back-propagate through the frozen blocks to reach it. A built
        optimizer is narrowed to the variables that remain trainable,
        keeping their moments (see `restrict_optimizer`). Under JAX, call
        this only when the model's variables hold the current state (a
        callback's `self.model` access syncs them).

        Args:
            num_frozen_layers: int in `[0, num_encoder_layers]`.
            target_layer: 0 for the model's default target (pixels for the
                MAE, the teacher's output for V-JEPA), else a 1-based block
                index `<= num_frozen_layers`.
        """
        num_frozen_layers, target_layer = int(num_frozen_layers), int(target_layer)
        num_decoder = self.backbone.num_layers - self.num_encoder_layers
        if not 0 <= num_frozen_layers <= self.num_encoder_layers:
            decoder_note = (
                f" (the encoder blocks; the last {num_decoder} blocks are the decoder)"
                if num_decoder
                else ""
            )
            raise ValueError(
                f"num_frozen_layers must be in [0, {self.num_encoder_layers}]"
                f"{decoder_note}; received {num_frozen_layers}."
            )
        if not 0 <= target_layer <= num_frozen_layers:
            raise ValueError(
                "target_layer must be 0 (the default target) or a frozen block "
                f"index in [1, num_frozen_layers={num_frozen_layers}]; received {target_layer}."
            )
        if num_frozen_layers < self.num_frozen_layers:
            raise ValueError(
                f"LayerLock never unfreezes: current number of frozen blocks is "
                f"{self.num_frozen_layers}, requested {num_frozen_layers}. Build a new "
                "model (or set `trainable` yourself) to fine-tune."
            )
        if num_frozen_layers > self.num_frozen_layers:
            self._on_freeze(self.num_frozen_layers, num_frozen_layers)
        embedding_trainable = num_frozen_layers == 0
        self.backbone.patch_embedding.trainable = embedding_trainable
        if self.backbone.position_embedding is not None:
            self.backbone.position_embedding.trainable = embedding_trainable
        for i, block in enumerate(self.backbone.transformer_layers[: self.num_encoder_layers]):
            block.trainable = i >= num_frozen_layers
        self._set_target_heads(target_layer)
        self.num_frozen_layers = num_frozen_layers
        self.target_layer = target_layer
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and optimizer.built:
            restrict_optimizer(optimizer, self.trainable_variables)

    def _track_layerlock_state(self):
        self.num_frozen_layers_tracker.update_state(self.num_frozen_layers)
        self.target_layer_tracker.update_state(self.target_layer)

    # ------------------------------------------------------------ training
    def compile(self, optimizer="adamw", **kwargs):
        """Compiles with LayerLock's optimizer conventions.

        - No weight decay on LayerNorm parameters, biases or learned tokens
          (every variable of rank <= 1), ever.
        - The learning rate is wrapped in a `LayerLockLearningRate`, which
          `LayerLockCallback` uses for the re-warm-up after target switches.
        - The optimizer is built here, on every variable LayerLock may
          freeze, and narrowed to the trainable ones: its layout is the same
          in every LayerLock state, so checkpoints always load.

        Args:
            optimizer: optimizer instance or name; defaults to AdamW.
            **kwargs: other `keras.Model.compile` arguments (no `loss`: the
                model computes its own).
        """
        optimizer = keras.optimizers.get(optimizer)
        base = optimizer_learning_rate_object(optimizer)
        if not isinstance(base, LayerLockLearningRate) and not optimizer.built:
            config = optimizer.get_config()
            # The schedule object itself: a round trip through its config
            # would need the user's schedule class registered.
            config["learning_rate"] = LayerLockLearningRate(
                base if isinstance(base, keras.optimizers.schedules.LearningRateSchedule)
                else config["learning_rate"])
            optimizer = optimizer.__class__.from_config(config)
        super().compile(optimizer=optimizer, **kwargs)
        if not optimizer.built:
            # Also without weight decay now: a WeightDecayScheduler may
            # turn it on later, and the exclusions must be set before build.
            if hasattr(optimizer, "exclude_from_weight_decay"):
                optimizer.exclude_from_weight_decay(
                    var_list=[v for v in self.variables if len(v.shape) <= 1]
                )
            self._build_optimizer()

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            **kwargs):
        """`keras.Model.fit`, with LayerLock's state shown as integers.

        Unless `callbacks` holds a `keras.callbacks.ProgbarLogger`, the
        progress bar is an `IntegerLogsProgbarLogger`: `num_frozen_layers:
        2` rather than Keras' `2.0000`. Unless it holds a
        `NonFiniteGuard`, one is added: the first NaN or Inf loss or weight
        stops training with an error naming the step, and the weights of
        the step before are restored. A dataset that shuffles itself
        (`ArrayClipDataset`, `VideoFolderDataset`) gets a
        `DatasetEpochSync` and `shuffle=False`, so a resumed run replays
        the same batches. A NumPy `x` is checked first
        (float, finite, not 0-255 cast to float: `check_video_array`).
        Everything else is `keras.Model.fit`.
        """
        check_video_array(x)
        kwargs = with_fit_defaults(x, dict(kwargs, callbacks=callbacks))
        if not any(isinstance(c, keras.callbacks.ProgbarLogger) for c in kwargs["callbacks"]):
            kwargs["callbacks"].append(IntegerLogsProgbarLogger())
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, **kwargs)

    def load_task_weights(self, filepath):
        """Loads every weight outside the backbone, or fails naming the
        weights that differ (keras-hub's loader alone skips a stored weight
        the model lacks, e.g. a preset's predictor block after
        `from_preset(..., predictor_num_layers=1)`)."""
        check_weight_paths(
            stored_weight_paths(filepath),
            expected_weight_paths(self.save_task_weights),
            f"The task weights {filepath}",
            "Build the model with the preset's own configuration (no "
            "architecture arguments to `from_preset`).",
        )
        super().load_task_weights(filepath)

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)

    def _build_optimizer(self):
        # The optimizer is always built on every variable LayerLock manages
        # and then narrowed to the trainable ones, so that checkpoints
        # written before and after freezing events share one layout.
        flags = [layer.trainable for layer in self.freezable_layers()]
        for layer in self.freezable_layers():
            layer.trainable = True
        self.optimizer.build(self.trainable_variables)
        for layer, flag in zip(self.freezable_layers(), flags):
            layer.trainable = flag
        restrict_optimizer(self.optimizer, self.trainable_variables)


# The name of this base before it became the core of every method.
LayerLockModel = PretrainingModel
