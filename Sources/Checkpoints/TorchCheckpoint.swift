// Reads a `pytorch_model.bin` as torch.save (>= 1.6) writes it: a zip holding `<prefix>/data.pkl`, a
// pickle of the state dict, and one entry `<prefix>/data/<key>` per storage. Tensors are strided views
// of storages, so several names may share one storage (tied weights) at different offsets; contiguous
// views point straight into the mapping, other layouts are gathered into a contiguous copy.

public enum TorchCheckpoint {
  public static func read(path: String) throws -> [CheckpointTensor] {
    try read(MappedFile(path: path))
  }

  static func read(_ file: MappedFile) throws -> [CheckpointTensor] {
    let path = file.path
    guard let magic = file.bytes(at: 0, count: 4), magic.le(0, as: UInt32.self) == 0x0403_4B50 else {
      throw CheckpointError(
        file: path,
        "not a torch zip checkpoint (torch.save since 1.6 writes a zip; the older tar/pickle format is not supported)")
    }
    let zip = try ZipArchive(file)
    // As torch's reader: the folder of the first entry is the archive's prefix (the saved file's stem).
    guard let first = zip.entries.first, let slash = first.name.firstIndex(of: "/") else {
      throw CheckpointError(file: path, "zip archive has no '<name>/data.pkl' entry")
    }
    let prefix = String(first.name[..<slash])
    if let order = zip.entry("\(prefix)/byteorder").flatMap({ _ in try? zip.data("\(prefix)/byteorder") }),
      String(decoding: order, as: UTF8.self) != "little"
    {
      throw CheckpointError(file: path, "storages are big-endian; flr reads little-endian checkpoints only")
    }
    let pickle = Array(try zip.data("\(prefix)/data.pkl", verifyChecksum: true))

    var storages: [String: PickleValue] = [:]
    // ('storage', storage type, key, location, numel) -> the bytes of `<prefix>/data/<key>`.
    let persistentLoad: (PickleValue) throws -> PickleValue = { pid in
      guard case .tuple(let items) = pid, items.count == 5, case .global(let typeName) = items[1],
        let dtype = RestrictedUnpickler.storageTypes[typeName], case .string(let key) = items[2],
        case .int(let numel) = items[4], numel >= 0
      else { throw CheckpointError(file: path, "malformed storage id in data.pkl") }
      if let known = storages[key] { return known }
      let name = "\(prefix)/data/\(key)"
      let bytes = try zip.data(name)
      let (needed, overflow) = numel.multipliedReportingOverflow(by: dtype.byteSize)
      guard !overflow, needed <= bytes.count else {
        throw CheckpointError(
          file: path,
          "zip entry '\(name)' holds \(bytes.count) bytes but its storage needs \(numel) x \(dtype.byteSize)")
      }
      let storage = PickleValue.storage(
        TorchStorage(
          key: key, dtype: dtype, elementCount: numel, bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<needed])))
      storages[key] = storage
      return storage
    }
    var unpickler = RestrictedUnpickler(
      bytes: pickle, context: "\(path) (\(prefix)/data.pkl)", persistentLoad: persistentLoad)
    let root = try unpickler.load()

    guard case .dict(let dict) = root else {
      throw CheckpointError(file: path, "data.pkl holds a \(root.kind), not a state dict")
    }
    var tensors: [CheckpointTensor] = []
    for (key, value) in dict.entries {
      guard case .string(let name) = key else { throw CheckpointError(file: path, "state dict key is a \(key.kind)") }
      // Non-tensor entries (e.g. an `_extra_state`) carry no weights.
      guard case .tensor(let tensor) = value else { continue }
      tensors.append(try materialize(tensor, name: name, file: file))
    }
    return tensors
  }

  /// The tensor's elements: a view into the storage when contiguous, else a gathered copy.
  static func materialize(_ t: TorchTensor, name: String, file: MappedFile) throws -> CheckpointTensor {
    let path = file.path
    let dtype = t.storage.dtype
    let size = dtype.byteSize
    func fail(_ why: String) -> CheckpointError {
      CheckpointError(file: path, "tensor '\(name)' (storage \(t.storage.key)): \(why)")
    }
    let count = try checkedProduct(t.shape, file: path, what: "tensor '\(name)'")
    guard t.offset >= 0, t.strides.allSatisfy({ $0 >= 0 }) else {
      throw fail("negative offset \(t.offset) or stride \(t.strides)")
    }
    if count == 0 {
      let empty = OwnedBytes(count: 0)
      return CheckpointTensor(name: name, dtype: dtype, shape: t.shape, file: path, bytes: empty.buffer, owner: empty)
    }
    // The last element touched must lie inside the storage.
    var last = t.offset
    for (n, s) in zip(t.shape, t.strides) {
      let (step, o1) = (n - 1).multipliedReportingOverflow(by: s)
      let (sum, o2) = last.addingReportingOverflow(step)
      guard !o1, !o2 else { throw fail("strides \(t.strides) overflow") }
      last = sum
    }
    guard last < t.storage.elementCount else {
      throw fail(
        "view of size \(t.shape), stride \(t.strides) at offset \(t.offset) reaches element \(last)"
          + " of a storage of \(t.storage.elementCount)")
    }
    var contiguous = true
    var expected = 1
    for (n, s) in zip(t.shape, t.strides).reversed() where n != 1 {
      if s != expected { contiguous = false }
      expected *= n
    }
    if contiguous {
      let bytes = UnsafeRawBufferPointer(rebasing: t.storage.bytes[(t.offset * size)..<((t.offset + count) * size)])
      return CheckpointTensor(name: name, dtype: dtype, shape: t.shape, file: path, bytes: bytes, owner: file)
    }
    // A strided view (a transpose, a step slice): gather element by element, last dimension fastest.
    // An expanded view (stride 0) larger than its storage is refused rather than blown up in memory.
    guard count <= t.storage.elementCount else {
      throw fail("expanded view of \(count) elements is larger than its storage (\(t.storage.elementCount))")
    }
    let out = OwnedBytes(count: count * size)
    guard let source = t.storage.bytes.baseAddress else { throw fail("storage has no data") }
    let rank = t.shape.count
    var index = [Int](repeating: 0, count: rank)
    var element = t.offset
    for i in 0..<count {
      (out.pointer + i * size).copyMemory(from: source + element * size, byteCount: size)
      var d = rank - 1
      while d >= 0 {
        index[d] += 1
        element += t.strides[d]
        if index[d] < t.shape[d] { break }
        element -= t.strides[d] * t.shape[d]
        index[d] = 0
        d -= 1
      }
    }
    return CheckpointTensor(name: name, dtype: dtype, shape: t.shape, file: path, bytes: out.buffer, owner: out)
  }
}
