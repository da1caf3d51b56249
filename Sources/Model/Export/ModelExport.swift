// `save model DIR [quantized] [overwrite]`: the resident model as a Hugging Face snapshot folder that flr,
// the remote code and transformers load: model.safetensors in the original naming (ModelTensors.swift),
// config.json (the loaded model's own bytes; with `quantized`, bitsandbytes' quantization_config added as
// transformers writes it), and the tokenizer/processor files and remote-code .py files of the folder the model
// came from. The folder is written as one unit (AtomicFolder).
import FlrCheckpoints
import FlrCore
import Foundation

public enum ModelExport {
  /// What a save wrote.
  public struct Summary: Sendable {
    public var tensors = 0
    public var bytes = 0
    public var copied: [String] = []
    public var model = ModelTensorsSummary()
  }

  /// Writes `model` (loaded from `sourceFolder`) into `destination`. An existing destination is replaced only
  /// with `overwrite`. `quantized` needs an NF4-loaded model and no active adapter: PEFT merges into a 4-bit
  /// layer by dequantizing, adding and requantizing, which would write weights that are not the ones flr
  /// computes with; flr refuses instead (save the adapter, or load without quantize, merge and save).
  @discardableResult
  /// `bf16` writes every floating tensor as bf16 (round to nearest even) with config.json's torch_dtype
  /// "bfloat16", as `save_pretrained` of a bf16 model does.
  public static func save(
    _ model: Florence2, sourceFolder: String, to destination: String, quantized: Bool = false, overwrite: Bool = false,
    bf16: Bool = false
  ) throws -> Summary {
    let attached = model.namedModules().filter { entry in
      switch entry.kind {
      case .linear(let slot): return slot.get() is LoRALinear
      case .conv2d(let slot): return slot.get() is LoRAConv2d
      case .other: return false
      }
    }
    if quantized && !attached.isEmpty {
      throw ModelError(
        file: destination,
        "an adapter is active on the NF4 model (\(attached.count) modules); `save model … quantized` does not "
          + "requantize a merge (PEFT would dequantize, add and requantize, changing the 4-bit weights). Save the "
          + "adapter with `save DIR`, or `use none` to save the quantized base, or load without quantize, merge "
          + "and `save model`")
    }
    if quantized && model.nf4Layers().isEmpty {
      throw ModelError(file: destination, "`quantized` needs a model loaded with quantize=nf4")
    }
    let configPath = sourceFolder + "/config.json"
    guard let sourceConfig = FileManager.default.contents(atPath: configPath) else {
      throw ModelError(file: configPath, "cannot read the loaded model's config.json")
    }
    if quantized && bf16 { throw ModelError(file: destination, "`quantized` (NF4) and dtype=bf16 do not combine") }
    var (entries, tensorSummary) = try model.exportEntries(quantized: quantized)
    if bf16 { entries = entries.map(asBF16) }
    let config = try exportedConfig(
      sourceConfig, quantized: quantized, untiedHead: tensorSummary.untiedHead, bf16: bf16, file: configPath)
    var summary = Summary()
    summary.model = tensorSummary
    summary.tensors = entries.count
    summary.bytes = entries.reduce(0) { $0 + $1.byteCount }
    let sideFiles = try companionFiles(in: sourceFolder)
    summary.copied = sideFiles

    try AtomicFolder.write(
      destination,
      existing: overwrite
        ? .replace : .refuse(message: "already exists; add `overwrite` to replace it (it is replaced as a whole)")
    ) { folder in
      for name in sideFiles { try AtomicFolder.copyFile(sourceFolder + "/" + name, to: folder + "/" + name) }
      try AtomicFolder.writeFile(config, to: folder + "/config.json")
      try SafetensorsWriter.write(entries: entries, to: folder + "/model.safetensors", metadata: ["format": "pt"])
    }
    return summary
  }

  /// The small files of a snapshot that travel with its weights: tokenizer, processor and generation configs,
  /// vocab/merges, remote-code Python. Not config.json (written separately), weights or their indexes.
  static func companionFiles(in folder: String) throws -> [String] {
    let names: [String]
    do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
      throw ModelError(file: folder, "cannot list the loaded model's folder (\(error.localizedDescription))")
    }
    return names.filter { name in
      guard !name.hasPrefix("."), name != "config.json", !name.hasSuffix(".index.json"),
        name != "adapter_config.json", [".json", ".txt", ".py"].contains(where: { name.hasSuffix($0) })
      else { return false }
      var isFolder: ObjCBool = false
      return FileManager.default.fileExists(atPath: folder + "/" + name, isDirectory: &isFolder) && !isFolder.boolValue
    }.sorted()
  }

  /// transformers' BitsAndBytesConfig(load_in_4bit, nf4, double quant).to_dict() for what flr stores (compute
  /// dtype float32: flr computes in fp32, so a loader doing the same gets flr's numbers; lm_head and the
  /// native model's image_projection Linear stay unquantized, as in flr).
  static let quantizationConfig = """
    {
        "_load_in_4bit": true,
        "_load_in_8bit": false,
        "bnb_4bit_compute_dtype": "float32",
        "bnb_4bit_quant_storage": "uint8",
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_use_double_quant": true,
        "llm_int8_enable_fp32_cpu_offload": false,
        "llm_int8_has_fp16_weight": false,
        "llm_int8_skip_modules": ["lm_head", "image_projection"],
        "llm_int8_threshold": 6.0,
        "load_in_4bit": true,
        "load_in_8bit": false,
        "quant_method": "bitsandbytes"
      }
    """

  /// The source config.json bytes, unchanged for a plain save. `quantized`: `"quantization_config": {…}` is
  /// inserted as the first key (the rest stays byte for byte, duplicate keys included). A plain save of a
  /// config that has a quantization_config drops it (the weights written are fp32), re-serialising the JSON.
  /// `untiedHead` (lm_head written apart from the embeddings): `tie_word_embeddings` false at the top level and
  /// in text_config, re-serialising the JSON; transformers and the remote code would otherwise tie lm_head back
  /// to `shared` on load and drop the adapted head.
  static func exportedConfig(
    _ source: Data, quantized: Bool, untiedHead: Bool = false, bf16: Bool = false, file: String
  ) throws -> Data {
    guard let object = try? JSONSerialization.jsonObject(with: source) as? [String: Any] else {
      throw ModelError(file: file, "is not a JSON object")
    }
    var base = source
    let dropQuantization = !quantized && object["quantization_config"] != nil
    if untiedHead || dropQuantization || bf16 {
      var edited = object
      if dropQuantization { edited["quantization_config"] = nil }
      if bf16 { edited["torch_dtype"] = "bfloat16" }
      if untiedHead {
        edited["tie_word_embeddings"] = false
        if var text = edited["text_config"] as? [String: Any] {
          text["tie_word_embeddings"] = false
          edited["text_config"] = text
        }
      }
      base = try JSONSerialization.data(withJSONObject: edited, options: [.prettyPrinted, .sortedKeys])
    }
    guard quantized, object["quantization_config"] == nil else { return base }  // already bitsandbytes: as is
    guard let brace = base.firstIndex(of: UInt8(ascii: "{")) else { throw ModelError(file: file, "no '{'") }
    var out = Data(base[...brace])
    out.append(contentsOf: Array("\n  \"quantization_config\": \(quantizationConfig),".utf8))
    out.append(base[base.index(after: brace)...])
    return out
  }
}

/// An F32 entry written as BF16 (round to nearest even): produced in fp32, then narrowed; other dtypes as they are.
private func asBF16(_ entry: SafetensorsEntry) -> SafetensorsEntry {
  guard entry.dtype == .f32 else { return entry }
  return SafetensorsEntry(name: entry.name, dtype: .bf16, shape: entry.shape) { out in
    let values = Tensor(uninitialized: entry.shape)
    try entry.fill(UnsafeMutableRawPointer(values.data))
    try SafetensorsEntry.float(entry.name, values, as: .bf16).fill(out)
  }
}
