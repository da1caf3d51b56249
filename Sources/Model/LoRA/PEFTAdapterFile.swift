// A PEFT adapter folder (peft `save_pretrained` / `PeftModel.from_pretrained`): adapter_config.json +
// adapter_model.safetensors ({"format": "pt"}), or the legacy adapter_model.bin. Keys
// `base_model.model.<module path>.lora_{A,B}.weight`, module paths in the original or the native naming.
import FlrCheckpoints
import FlrCore
import Foundation

public enum PEFTAdapterFile {
  static let prefix = "base_model.model."

  // MARK: save

  /// Writes `adapter` into `folder` (created if needed): adapter_config.json and adapter_model.safetensors are
  /// replaced together, so a failure or crash at any point leaves the old adapter as it was.
  /// `alsoWrite(temporaryFolder)` may add files (training state …) that then belong to the same unit;
  /// `dropping` names files of the old folder that must not survive beside the new adapter (a stale training
  /// state), removed in the same unit. `dtype`: F32, or BF16 / F16 rounded to nearest even as torch's `.to()`.
  public static func save(
    _ adapter: LoRAAdapter, to folder: String, naming: ModuleNaming = .original, dtype: CheckpointDType = .f32,
    dropping: Set<String> = [], alsoWrite: ((String) throws -> Void)? = nil
  ) throws {
    var tensors: [(name: String, tensor: Tensor)] = []
    var paths: [String] = []
    for layer in adapter.layers {
      let p = layer.lora
      guard let path = naming == .original ? p.path : ModuleNaming.nativePath(ofOriginal: p.path) else {
        throw LoRAError("module \(p.path) has no \(naming.rawValue) name")
      }
      paths.append(path)
      tensors.append((prefix + path + ".lora_A.weight", p.loraA))
      tensors.append((prefix + path + ".lora_B.weight", p.loraB))
    }
    let config = adapter.config
    // target_modules in the written naming: the list as given (plus `conv` for native patch convs), or, for a
    // regex written in the other naming, the exact module paths (a list entry equal to a path matches it).
    let targets: Any
    switch (config.targets, naming) {
    case (.names(let names), .original): targets = names
    case (.names(let names), .native):
      let hasConv = adapter.layers.contains { $0 is LoRAConv2d }
      targets = hasConv && !names.contains("conv") ? names + ["conv"] : names
    case (.regex(let r), .original): targets = r
    case (.regex, .native): targets = paths
    }
    let json = PEFTAdapterConfig.json(
      config, targets: targets, rankPattern: config.rankPattern, alphaPattern: config.alphaPattern)
    // Both files as one unit: built in a temporary folder, renamed into place (AtomicFolder). A stale legacy
    // adapter_model.bin is dropped (a loader would otherwise find two weight files), and `dropping`; other files
    // stay.
    let existing = AtomicFolder.Existing.replaceEntries(dropping: dropping.union(["adapter_model.bin"]))
    try AtomicFolder.write(folder, existing: existing) { temporary in
      try SafetensorsWriter.write(
        entries: tensors.map { .float($0.name, $0.tensor, as: dtype) }, to: temporary + "/adapter_model.safetensors",
        metadata: ["format": "pt"])
      try AtomicFolder.writeFile(Data(json.utf8), to: temporary + "/adapter_config.json")
      try alsoWrite?(temporary)
    }
  }

  // MARK: load

  /// Reads the adapter in `folder` for `model`: every tensor must belong to a module the config's
  /// target_modules match, with the config's rank; anything else is one error listing every problem.
  /// The model is not touched (the caller attaches the adapter).
  public static func load(from folder: String, name: String, model: Florence2) throws -> (
    adapter: LoRAAdapter, naming: ModuleNaming
  ) {
    let configPath = folder + "/adapter_config.json"
    guard let data = FileManager.default.contents(atPath: configPath) else {
      throw LoRAError("\(configPath): cannot read (is \(folder) a PEFT adapter folder?)")
    }
    let config = try PEFTAdapterConfig.parse(data, file: configPath)
    let weightsPath = ["adapter_model.safetensors", "adapter_model.bin"].map { folder + "/" + $0 }
      .first { FileManager.default.fileExists(atPath: $0) }
    guard let weightsPath else {
      throw LoRAError("\(folder): no adapter_model.safetensors or adapter_model.bin")
    }
    let set: CheckpointSet
    do { set = try CheckpointSet.open(file: weightsPath) } catch { throw LoRAError("\(error)") }

    // module path -> (A, B) as stored; other keys kept for the error.
    var pairs: [String: (a: CheckpointTensor?, b: CheckpointTensor?)] = [:]
    var unexpected: [String] = []
    for key in set.names {
      guard key.hasPrefix(prefix) else { unexpected.append(key); continue }
      let rest = String(key.dropFirst(prefix.count))
      // PEFT's save_embedding_layers copy of the tied head's base weight (it turns this on by itself when lm_head
      // is a target; SPEC §6.3): the base model's own weight, not part of the adapter. flr does not write it
      // (V·d floats, 157 MB on base); PEFT loads adapters without it silently (lmhead.py checks this).
      if rest == "lm_head.base_layer.weight" || rest == Florence2.lmHeadPath + ".base_layer.weight" { continue }
      if rest.hasSuffix(".lora_A.weight") {
        pairs[String(rest.dropLast(".lora_A.weight".count)), default: (nil, nil)].a = set[key]
      } else if rest.hasSuffix(".lora_B.weight") {
        pairs[String(rest.dropLast(".lora_B.weight".count)), default: (nil, nil)].b = set[key]
      } else {
        unexpected.append(key)
      }
    }
    // The naming whose module paths cover more of the file's modules.
    let modules = model.namedModules()
    func index(_ naming: ModuleNaming) -> [String: ModuleEntry] {
      var map: [String: ModuleEntry] = [:]
      for e in modules {
        if naming == .original {
          map[e.path] = e
        } else if let p = ModuleNaming.nativePath(ofOriginal: e.path) {
          map[p] = e
        }
      }
      return map
    }
    let byOriginal = index(.original), byNative = index(.native)
    let naming: ModuleNaming =
      pairs.keys.filter { byNative[$0] != nil }.count > pairs.keys.filter { byOriginal[$0] != nil }.count
      ? .native : .original
    let byPath = naming == .original ? byOriginal : byNative

    var problems: [String] = []
    func list(_ title: String, _ items: [String]) {
      guard !items.isEmpty else { return }
      let shown = items.sorted().prefix(12).map { "  " + $0 }.joined(separator: "\n")
      problems.append(
        "\(items.count) \(title):\n\(shown)" + (items.count > 12 ? "\n  … and \(items.count - 12) more" : ""))
    }
    let targeted: [ModuleEntry]
    do { targeted = try model.loraTargets(config.targets, naming: naming) } catch let e as LoRAError {
      throw LoRAError("\(configPath): \(e.message)")
    }
    let targetedPaths = Set(targeted.map(\.path))
    var noModule: [String] = [], notTargeted: [String] = [], halves: [String] = []
    for (path, pair) in pairs {
      guard let entry = byPath[path] else { noModule.append(path); continue }
      if !targetedPaths.contains(entry.path) { notTargeted.append(path) }
      if pair.a == nil || pair.b == nil { halves.append("\(path): only lora_\(pair.a == nil ? "B" : "A")") }
    }
    let present = Set(pairs.keys.compactMap { byPath[$0]?.path })
    let missing = targeted.filter { !present.contains($0.path) }.map {
      naming == .original ? $0.path : ModuleNaming.nativePath(ofOriginal: $0.path) ?? $0.path
    }
    list("tensor keys of no LoRA module", unexpected)
    list("module paths that are not modules of this model (\(naming.rawValue) naming)", noModule)
    list("modules that target_modules does not select", notTargeted)
    list("modules with half a LoRA pair", halves)
    list("modules selected by target_modules with no tensors", missing)

    // Shapes, ranks, values.
    var ranks: [(Int, Float)] = []
    for entry in targeted {
      let own = naming == .original ? entry.path : ModuleNaming.nativePath(ofOriginal: entry.path) ?? entry.path
      ranks.append(try config.rankAndAlpha(for: own))
    }
    if problems.isEmpty {
      let adapter = try LoRAAdapter(name: name, config: config, entries: targeted, ranks: ranks)
      var shapeProblems: [String] = [], values: [String] = []
      for (entry, layer) in zip(targeted, adapter.layers) {
        let own = naming == .original ? entry.path : ModuleNaming.nativePath(ofOriginal: entry.path) ?? entry.path
        let pair = pairs[own]!
        for (stored, target, half) in [(pair.a!, layer.lora.loraA, "A"), (pair.b!, layer.lora.loraB, "B")] {
          guard stored.shape == target.shape else {
            shapeProblems.append(
              "\(own).lora_\(half): \(stored.shape), expected \(target.shape) (r = \(layer.lora.rank))")
            continue
          }
          do {
            let t = try stored.toFloat32()
            if let bad = (0..<t.count).first(where: { !t.data[$0].isFinite }) {
              values.append("\(own).lora_\(half): element \(bad) is \(t.data[bad])")
            }
            withExtendedLifetime(t) { target.data.update(from: t.data, count: t.count) }
          } catch { values.append("\(own).lora_\(half): \(error)") }
        }
      }
      list("tensors with the wrong shape (another rank than the config's, or another model size)", shapeProblems)
      list("tensors with non-finite values", values)
      if problems.isEmpty { return (adapter, naming) }
    }
    throw LoRAError(
      "\(weightsPath): the adapter does not fit this model:\n" + problems.joined(separator: "\n"))
  }
}
