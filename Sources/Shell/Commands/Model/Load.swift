import Foundation

// `load MODEL`: make a Florence-2 model resident (folder or hub id from the local HF cache).
// A failed load keeps the previous model.

enum LoadCommand {
  static let command = Command(
    "load", group: .model, summary: "Load a Florence-2 model (folder or cached hub id), or an adapter with adapter=",
    positionals: PositionalSpec(
      "MODEL", .string, minimum: 0, maximum: 1, "model folder or hub id (microsoft/Florence-2-base-ft)"),
    options: [
      OptionSpec("revision", .string, "Hub revision (branch, tag or commit) in the local cache"),
      OptionSpec("adapter", .path, settable: false, "Load a PEFT LoRA adapter folder onto the loaded model instead"),
      OptionSpec("name", .string, settable: false, "Name for the adapter loaded with adapter="),
    ],
    examples: [
      "load microsoft/Florence-2-base-ft", "load ~/models/florence-2-large", "load adapter=loras/mine name=mine",
    ],
    details:
      "Hub ids are looked up in the Hugging Face cache (HF_HUB_CACHE, HF_HOME, ~/.cache/huggingface); flr never downloads.",
    run: { arguments, session in
      if arguments.string("adapter") != nil { throw notAvailableYet("load adapter=", "LoRA") }
      guard let source = arguments.positionals.first else {
        throw ShellError("load: missing MODEL (a folder or hub id); adapters: load adapter=DIR")
      }
      _ = source
      throw notAvailableYet("load", "model loading")
    })
}
