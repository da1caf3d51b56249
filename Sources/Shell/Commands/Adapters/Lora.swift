// `lora`, `use`, `drop`, `merge`, `unmerge`: named LoRA adapters resident beside the loaded model
// (FlrModel's LoRAAdapters); the work is in AdapterActions.swift.

enum LoraCommand {
  /// The reference script's FLORENCE_TARGET_MODULES.
  static let referenceTargets = "qkv,proj,k_proj,v_proj,q_proj,out_proj,fc1,fc2"

  static let command = Command(
    "lora", group: .adapters, summary: "Create a LoRA adapter on the loaded model and make it active",
    positionals: PositionalSpec("NAME", .string, minimum: 0, maximum: 1, "adapter name (default: default)"),
    options: [
      OptionSpec("rank", .int(1...4096), default: .int(4), "LoRA rank r"),
      OptionSpec(
        "alpha", .float(0...1e6), default: .float(4), "LoRA alpha; the scale is alpha/r (alpha/sqrt(r) with rslora)"),
      OptionSpec(
        "targets", .string, default: .string(referenceTargets),
        "Comma-separated module names (PEFT suffix match; lm_head: the LM head, tied to the embeddings), or "
          + "re:REGEX (full match)"),
      OptionSpec("dropout", .float(0...1), default: .float(0.25), "Dropout on the LoRA input, in training only"),
      .flag("rslora", "Scale by alpha/sqrt(r) (rank-stabilised LoRA)"),
      OptionSpec(
        "init", .choice(["default", "gaussian", "false"]), default: .string("default"),
        "PEFT's init_lora_weights: default (true: A kaiming-uniform, B zero), gaussian (A ~ N(0, 1/r^2), B zero), "
          + "false (A and B as the layer initialises them: the adapter changes outputs from the start)"),
      OptionSpec("seed", .int(0...Int(UInt32.max)), "Seed for the initialisation"),
    ],
    examples: [
      "lora rank=8 alpha=8", "lora vision targets=qkv,proj rslora", "lora head targets=q_proj,v_proj,lm_head",
    ],
    run: { arguments, session in try AdapterActions.create(arguments, session) })
}

enum UseCommand {
  static let command = Command(
    "use", group: .adapters, summary: "Make a resident adapter active (`use none`: the base model)",
    positionals: PositionalSpec("NAME", .string, minimum: 1, maximum: 1, "adapter name or none", namesAdapters: true),
    examples: ["use mylora", "use none"],
    run: { arguments, session in try AdapterActions.use(arguments, session) })
}

enum DropCommand {
  static let command = Command(
    "drop", group: .adapters, summary: "Free a resident adapter",
    positionals: PositionalSpec("NAME", .string, minimum: 1, maximum: 1, "adapter name", namesAdapters: true),
    examples: ["drop mylora"],
    run: { arguments, session in try AdapterActions.drop(arguments, session) })
}

enum MergeCommand {
  static let command = Command(
    "merge", group: .adapters, summary: "Fold an adapter into the base weights for fast captioning",
    positionals: PositionalSpec(
      "NAME", .string, minimum: 0, maximum: 1, "adapter (default: the active one)", namesAdapters: true),
    examples: ["merge", "merge mylora"],
    details: """
      While merged, the adapter is in the base weights and not active (`train` says to `unmerge` first); one \
      adapter is merged at a time.
      """,
    run: { arguments, session in try AdapterActions.merge(arguments, session) })
}

enum UnmergeCommand {
  static let command = Command(
    "unmerge", group: .adapters, summary: "Restore the base weights after `merge`",
    examples: ["unmerge"],
    details: """
      The adapter becomes active again, as PEFT's unmerge_adapter leaves it, unless another adapter was made \
      active since (that one stays active).
      """,
    run: { _, session in try AdapterActions.unmerge(session) })
}
