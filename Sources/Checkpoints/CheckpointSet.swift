// FlrCheckpoints: reading and writing model weights safely.
//
//   let path = try HubCache.resolve("microsoft/Florence-2-base-ft")   // or a local folder/file path
//   let weights = try CheckpointSet.open(path: path)                  // folder or single file
//   for name in weights.names { let t = try weights.float32(name) ... }   // Tensor, fp32, contiguous
//   try SafetensorsWriter.write([("lora_A", a), ...], to: "adapter_model.safetensors")
//
// - `CheckpointSet.open(folder:)` picks the weights the way transformers does: model.safetensors, else
//   model.safetensors.index.json (shards), else pytorch_model.bin, else pytorch_model.bin.index.json.
//   `open(file:)` reads one .safetensors or torch zip file directly.
// - Every tensor is a `CheckpointTensor` (name, dtype, shape, bytes viewing the mapped file).
//   `float32(name)` converts fp16/bf16 once; names that share bytes (tied weights: `shared`,
//   `embed_tokens`, `lm_head`) get the very same `Tensor`, as torch ties them. fp32 data is not copied.
// - pytorch_model.bin is read with a restricted unpickler: only what torch.load(weights_only=True)
//   accepts for a state dict; any other global is refused by name and nothing is ever executed.
// - Every problem is a `CheckpointError` naming the file and what is wrong with it.
// - Keep a CheckpointSet only while loading: it holds the mapping and the converted tensors; the
//   tensors taken from it stay valid on their own (fp32 views keep their mapping alive).

import FlrCore

public final class CheckpointSet {
  public enum Format: String, Sendable {
    case safetensors = "model.safetensors"
    case shardedSafetensors = "model.safetensors.index.json"
    case pytorch = "pytorch_model.bin"
    case shardedPytorch = "pytorch_model.bin.index.json"
  }

  /// The folder or file that was opened.
  public let location: String
  public let format: Format
  /// Every file read, in order.
  public let files: [String]
  /// safetensors `__metadata__` of the first file (empty for torch files).
  public let metadata: [String: String]
  public let tensors: [String: CheckpointTensor]
  /// Names in file order (the first file's first).
  public let names: [String]
  private var converted: [String: Tensor] = [:]

  init(location: String, format: Format, files: [String], metadata: [String: String], list: [CheckpointTensor])
    throws
  {
    var tensors: [String: CheckpointTensor] = [:]
    var names: [String] = []
    for t in list {
      guard tensors[t.name] == nil else {
        throw CheckpointError(file: t.file, "tensor '\(t.name)' is also in \(tensors[t.name]!.file)")
      }
      tensors[t.name] = t
      names.append(t.name)
    }
    self.location = location
    self.format = format
    self.files = files
    self.metadata = metadata
    self.tensors = tensors
    self.names = names
  }

  public subscript(name: String) -> CheckpointTensor? { tensors[name] }

  /// The tensor as fp32; tied names (same bytes, same shape) share one converted `Tensor`.
  public func float32(_ name: String) throws -> Tensor {
    guard let t = tensors[name] else { throw CheckpointError(file: location, "no tensor named '\(name)'") }
    let key = "\(UInt(bitPattern: t.bytes.baseAddress)):\(t.bytes.count):\(t.dtype.rawValue):\(t.shape)"
    if let done = converted[key] { return done }
    let tensor = try t.toFloat32()
    converted[key] = tensor
    return tensor
  }

  /// Opens the weights in a model folder (a Hugging Face snapshot or a save_pretrained folder).
  public static func open(folder: String) throws -> CheckpointSet {
    for format in [Format.safetensors, .shardedSafetensors, .pytorch, .shardedPytorch]
    where isFile("\(folder)/\(format.rawValue)") {
      let path = "\(folder)/\(format.rawValue)"
      switch format {
      case .safetensors, .pytorch:
        let (list, metadata) = try readFile(path)
        return try CheckpointSet(location: folder, format: format, files: [path], metadata: metadata, list: list)
      case .shardedSafetensors, .shardedPytorch:
        return try openSharded(index: path, folder: folder, format: format)
      }
    }
    guard isDirectory(folder) else { throw CheckpointError(file: folder, "no such folder") }
    throw CheckpointError(
      file: folder,
      "no weights found: expected one of model.safetensors, model.safetensors.index.json, pytorch_model.bin,"
        + " pytorch_model.bin.index.json")
  }

  /// A folder (see `open(folder:)`) or a single weights file (see `open(file:)`).
  public static func open(path: String) throws -> CheckpointSet {
    isDirectory(path) ? try open(folder: path) : try open(file: path)
  }

  /// Opens one weights file: safetensors by its extension, otherwise a torch zip.
  public static func open(file path: String) throws -> CheckpointSet {
    let (list, metadata) = try readFile(path)
    let format: Format = path.hasSuffix(".safetensors") ? .safetensors : .pytorch
    return try CheckpointSet(location: path, format: format, files: [path], metadata: metadata, list: list)
  }

  static func readFile(_ path: String) throws -> (list: [CheckpointTensor], metadata: [String: String]) {
    let file = try MappedFile(path: path)
    if path.hasSuffix(".safetensors") {
      let read = try SafetensorsReader.read(file)
      return (read.tensors, read.metadata)
    }
    return (try TorchCheckpoint.read(file), [:])
  }

  /// `{"metadata": {...}, "weight_map": {tensor name: shard file}}`, as save_pretrained writes it.
  static func openSharded(index: String, folder: String, format: Format) throws -> CheckpointSet {
    let file = try MappedFile(path: index)
    guard let text = file.bytes(at: 0, count: file.size) else { throw CheckpointError(file: index, "cannot read") }
    let json: JSON
    do { json = try JSON.parse(text) } catch { throw CheckpointError(file: index, error.message) }
    guard let map = json.object?.last(where: { $0.0 == "weight_map" })?.1.object else {
      throw CheckpointError(file: index, "no \"weight_map\" object")
    }
    var shards: [String] = []
    var wanted: [String: String] = [:]
    for (name, shard) in map {
      guard let shard = shard.string, !shard.isEmpty, !shard.hasPrefix("/"),
        !shard.split(separator: "/").contains("..")
      else { throw CheckpointError(file: index, "tensor '\(name)' maps to an invalid shard file name") }
      if !shards.contains(shard) { shards.append(shard) }
      wanted[name] = shard
    }
    var list: [CheckpointTensor] = []
    var metadata: [String: String] = [:]
    var shardOf: [String: String] = [:]
    for (i, shard) in shards.enumerated() {
      let part = try readFile("\(folder)/\(shard)")
      if i == 0 { metadata = part.metadata }
      list += part.list
      for t in part.list { shardOf[t.name] = shard }
    }
    let set = try CheckpointSet(
      location: folder, format: format, files: [index] + shards.map { "\(folder)/\($0)" }, metadata: metadata,
      list: list)
    let missing = wanted.filter { shardOf[$0.key] != $0.value }.map(\.key).sorted()
    guard missing.isEmpty else {
      throw CheckpointError(
        file: index,
        "\(missing.count) tensors are not in the shard weight_map names: \(missing.prefix(5).joined(separator: ", "))")
    }
    return set
  }
}
