// `train`: train the active adapter on the resident dataset (issue "Training"). Declared now with
// every option of the seed's train_florence_peft.py given a home; the trainer is not built yet.

enum TrainCommand {
  static let command = Command(
    "train", group: .training, summary: "Train the active adapter on the resident dataset",
    positionals: PositionalSpec("resume", .choice(["resume"]), minimum: 0, maximum: 1, "continue a stopped run"),
    options: [
      OptionSpec("epochs", .int(1...1_000_000), default: .int(5), "Passes over the dataset"),
      OptionSpec("lr", .float(0...10), default: .float(1e-4), "Learning rate"),
      OptionSpec("batch", .int(1...4096), default: .int(1), "Image+caption pairs per step"),
      OptionSpec("accumulate", .int(1...4096), default: .int(1), "Batches accumulated per optimizer step"),
      OptionSpec("seed", .int(0...Int(UInt32.max)), "Seed for shuffling, dropout and caption augmentation"),
      OptionSpec("optimizer", .choice(["adamw", "adamw8bit"]), default: .string("adamw"), "Optimizer"),
      OptionSpec("optimizer_args", .string, default: .string(""), "e.g. \"weight_decay=0.01 betas=0.9,0.999\""),
      OptionSpec("scheduler", .choice(["none", "onecycle"]), default: .string("none"), "Learning-rate schedule"),
      OptionSpec(
        "checkpointing", .choice(["none", "text", "all"]), default: .string("none"),
        "Recompute activations in backward: BART layers (text) or BART and DaViT (all)"),
      .flag("shuffle_captions", "Shuffle the comma-separated parts of each caption"),
      OptionSpec(
        "frozen_parts", .int(0...1000), default: .int(0), "Leading caption parts kept in place when shuffling"),
      OptionSpec("caption_dropout", .float(0...1), default: .float(0), "Probability of dropping each other part"),
      OptionSpec("max_length", .int(1...4096), "Truncate labels to this many tokens (default: the processor's)"),
      OptionSpec("prompt", .string, "Task prompt trained on (default <DETAILED_CAPTION>... as the dataset says)"),
      OptionSpec("sample_every_steps", .int(1...Int(Int32.max)), "Print sample captions every N steps"),
      OptionSpec("sample_every_epochs", .int(1...Int(Int32.max)), "Print sample captions every N epochs"),
      OptionSpec("save_every_steps", .int(1...Int(Int32.max)), "Save the adapter every N steps"),
      OptionSpec("save_every_epochs", .int(1...Int(Int32.max)), "Save the adapter every N epochs"),
      OptionSpec("out", .path, settable: false, "Folder for saved adapters (out/NAME/step-N, out/NAME)"),
      OptionSpec("name", .string, "Run name for saving and logging"),
      OptionSpec(
        "log", .choice(["tensorboard", "jsonl", "none", "wandb", "all"]), default: .string("none"), "Logging"),
    ],
    examples: ["train epochs=3 lr=1e-4 out=loras name=mine", "train resume"],
    run: { _, _ in throw notAvailableYet("train", "training") })
}
