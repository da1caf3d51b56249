// Reading a checkpoint whose Linears are stored as bitsandbytes 4-bit (what `save model … quantized` writes
// and transformers writes for a `load_in_4bit` nf4 model): every `<key>.quant_state.bitsandbytes__nf4` marks
// an NF4 weight `<key>` with its absmax / quant_map / nested_absmax / nested_quant_map companions. The model is
// built with those weights dequantized (so every module binds as usual), then each such Linear is replaced by
// an NF4LinearLayer holding the stored codes unchanged: the loaded model computes exactly what the model that
// wrote the file computed.
import FlrCheckpoints
import FlrCore
import Foundation

enum BitsAndBytesCheckpoint {
  static let stateSuffix = ".quant_state.bitsandbytes__nf4"

  static let emptySerialized: NF4Serialized = {
    var one: Float = 0
    return (try? NF4Tensor(quantizing: &one, shape: [1]))!.serialized()  // a finite value always quantizes
  }()

  static func isQuantized(_ set: CheckpointSet) -> Bool { set.names.contains { $0.hasSuffix(stateSuffix) } }

  /// The model in `set` (config from the folder) with its NF4 Linears kept as NF4.
  static func load(_ set: CheckpointSet, config: FlorenceConfig, file: String) throws -> Florence2 {
    var rest = set.tensors
    var stored: [String: (NF4Tensor, dtype: String)] = [:]  // original weight key -> NF4 weight
    for name in set.names where name.hasSuffix(stateSuffix) {
      let key = String(name.dropLast(stateSuffix.count))
      let fields = [key] + NF4Serialized.suffixes.map { key + "." + $0 }
      var parts: [CheckpointTensor] = []
      for f in fields {
        guard let t = set[f] else { throw ModelError(file: file, "\(key): 4-bit weight without '\(f)'") }
        parts.append(t)
        rest[f] = nil
      }
      func bytes(_ t: CheckpointTensor) throws -> [UInt8] {
        guard t.dtype == .u8 else { throw ModelError(file: file, "\(t.name): expected U8, found \(t.dtype.rawValue)") }
        return Array(t.bytes)
      }
      func floats(_ t: CheckpointTensor) throws -> [Float] {
        let f = try t.toFloat32()
        return Array(UnsafeBufferPointer(start: f.data, count: f.count))
      }
      // NF4Serialized has no public initialiser (FlrCore); its fields are public, so start from any value.
      var serialized = emptySerialized
      serialized.weight = try bytes(parts[0])
      serialized.weightShape = parts[0].shape
      serialized.absmax = try bytes(parts[1])
      serialized.quantMap = try floats(parts[2])
      serialized.nestedAbsmax = try floats(parts[3])
      serialized.nestedQuantMap = try floats(parts[4])
      serialized.quantState = try bytes(parts[5])
      let tensor: NF4Tensor
      do { tensor = try NF4Tensor(serialized: serialized, key: key) } catch {
        throw ModelError(file: file, "\(error)")
      }
      let state = (try? JSONSerialization.jsonObject(with: Data(serialized.quantState))) as? [String: Any]
      let dtype = state?["dtype"] as? String ?? "float32"
      let canonical = CheckpointNaming.originalName(ofNative: key) ?? key
      stored[canonical] = (tensor, dtype)
    }
    var sources = try CheckpointNaming.canonicalSources(rest, config: config, file: file)
    for (key, (tensor, _)) in stored {
      let w = Tensor(zeros: tensor.shape)
      tensor.dequantizeFast(into: w.data)
      sources[key] = .tensor(w)
    }
    let model = try Florence2(config: config, weights: Weights(file: file, sources: sources))
    var replaced = 0
    for entry in model.namedModules() {
      guard case .linear(let slot) = entry.kind, let (tensor, dtype) = stored[entry.path + ".weight"] else { continue }
      let layer = slot.get()
      do { slot.set(try NF4LinearLayer(quantized: tensor, bias: layer.bias, sourceDType: dtype)) } catch {
        throw ModelError(file: file, "\(entry.path): \(error)")
      }
      replaced += 1
    }
    guard replaced == stored.count else {
      let linears = Set(model.namedModules().map { $0.path + ".weight" })
      let odd = stored.keys.filter { !linears.contains($0) }.sorted()
      throw ModelError(
        file: file, "4-bit weights for modules that are not Linear layers: \(odd.joined(separator: ", "))")
    }
    // The dequantized fp32 copies went to the buffer pool; free them for real (as quantizeLinearsNF4 does).
    let poolLimit = TensorBuffer.poolLimitBytes
    TensorBuffer.poolLimitBytes = 0
    TensorBuffer.poolLimitBytes = poolLimit
    return model
  }
}
