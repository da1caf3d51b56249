// `save`: write an adapter in PEFT's layout (AdapterActions.save). `save model DIR` is not built yet.

enum SaveCommand {
  static let command = Command(
    "save", group: .adapters, summary: "Save an adapter in PEFT's layout (or `save model DIR` a merged model)",
    positionals: PositionalSpec(
      "[NAME] DIR", .string, minimum: 1, maximum: 2, "adapter name (default: active) and folder"),
    options: [
      OptionSpec(
        "naming", .choice(["original", "native"]), default: .string("original"),
        "Key names: the remote-code model's (original) or transformers' native Florence2"),
      .flag("state", settable: false, "Also write optimizer state, step and RNG so `train resume` continues"),
    ],
    examples: ["save loras/mine", "save mylora loras/mine naming=native", "save model merged/"],
    run: { arguments, session in try AdapterActions.save(arguments, session) })
}
