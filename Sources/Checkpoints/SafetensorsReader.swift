// Reads a .safetensors file by mmap: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, then the data.
// The header is validated as the reference library (huggingface/safetensors `Metadata::validate`) does:
// offsets relative to the data area, tensors back to back with no gap or overlap covering all of it,
// and each byte range exactly shape x dtype size.

public enum SafetensorsReader {
  /// The reference library's cap on header size.
  static let maxHeaderSize = 100_000_000

  public static func read(path: String) throws -> (tensors: [CheckpointTensor], metadata: [String: String]) {
    try read(MappedFile(path: path))
  }

  static func read(_ file: MappedFile) throws -> (tensors: [CheckpointTensor], metadata: [String: String]) {
    let path = file.path
    func fail(_ why: String) -> CheckpointError { CheckpointError(file: path, "invalid safetensors file: \(why)") }

    guard let lengthBytes = file.bytes(at: 0, count: 8) else {
      throw fail("\(file.size) bytes is too short to hold the 8-byte header length")
    }
    let declared = lengthBytes.le(0, as: UInt64.self)
    guard declared <= UInt64(maxHeaderSize) else { throw fail("header length \(declared) exceeds the 100 MB limit") }
    let headerLength = Int(declared)
    guard let header = file.bytes(at: 8, count: headerLength) else {
      throw fail("header length \(headerLength) runs past the end of the file (\(file.size) bytes)")
    }
    guard headerLength > 0, header[0] == UInt8(ascii: "{") else { throw fail("header does not start with '{'") }
    let json: JSON
    do { json = try JSON.parse(header) } catch { throw fail("header is not valid JSON (\(error.message))") }
    guard let members = json.object else { throw fail("header is not a JSON object") }

    let dataStart = 8 + headerLength
    let dataLength = file.size - dataStart
    var metadata: [String: String] = [:]
    var entries: [(name: String, dtype: CheckpointDType, shape: [Int], begin: Int, end: Int)] = []
    var seen = Set<String>()
    for (name, info) in members {
      guard seen.insert(name).inserted else { throw fail("'\(name)' appears twice in the header") }
      if name == "__metadata__" {
        if info == .null { continue }
        guard let pairs = info.object else { throw fail("__metadata__ is not an object of strings") }
        for (k, v) in pairs {
          guard let s = v.string else { throw fail("__metadata__ value for '\(k)' is not a string") }
          metadata[k] = s
        }
        continue
      }
      guard let fields = info.object else { throw fail("entry '\(name)' is not an object") }
      func field(_ key: String) -> JSON? { fields.last(where: { $0.0 == key })?.1 }
      guard let dtypeName = field("dtype")?.string else { throw fail("tensor '\(name)' has no dtype string") }
      guard let dtype = CheckpointDType(rawValue: dtypeName) else {
        throw fail("tensor '\(name)' has unknown dtype '\(dtypeName)'")
      }
      let dims = field("shape")?.array ?? [.null]
      let shape = dims.compactMap(\.int)
      guard shape.count == dims.count else { throw fail("tensor '\(name)' has no integer shape") }
      guard let offsets = field("data_offsets")?.array, offsets.count == 2,
        let begin = offsets[0].int, let end = offsets[1].int
      else { throw fail("tensor '\(name)' has no [begin, end] data_offsets") }
      let count = try checkedProduct(shape, file: path, what: "tensor '\(name)'")
      let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
      guard !overflow else { throw fail("tensor '\(name)' shape \(shape) overflows") }
      guard begin >= 0, end >= begin else { throw fail("tensor '\(name)' has data_offsets [\(begin), \(end)]") }
      guard end <= dataLength else {
        throw fail(
          "tensor '\(name)' data_offsets [\(begin), \(end)] run past the end of the file"
            + " (the data area holds \(dataLength) bytes)")
      }
      guard end - begin == byteCount else {
        throw fail(
          "tensor '\(name)' is \(dtype.rawValue) \(shape) = \(byteCount) bytes but data_offsets"
            + " [\(begin), \(end)] hold \(end - begin)")
      }
      entries.append((name, dtype, shape, begin, end))
    }

    // Back to back, as the reference requires: sorting by offset must give each range starting where the
    // previous ended, and the last ending at the file's end.
    let ordered = entries.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
    var covered = 0
    var previous = ""
    for e in ordered {
      if e.begin < covered {
        throw fail("tensor '\(e.name)' [\(e.begin), \(e.end)] overlaps tensor '\(previous)' (which ends at \(covered))")
      }
      if e.begin > covered { throw fail("gap of \(e.begin - covered) bytes in the data before tensor '\(e.name)'") }
      covered = e.end
      previous = e.name
    }
    guard covered == dataLength else {
      throw fail("the data area holds \(dataLength) bytes but the tensors cover \(covered)")
    }

    let tensors = try entries.map { e -> CheckpointTensor in
      guard let bytes = file.bytes(at: dataStart + e.begin, count: e.end - e.begin) else {
        throw fail("tensor '\(e.name)' lies outside the file")
      }
      return CheckpointTensor(name: e.name, dtype: e.dtype, shape: e.shape, file: path, bytes: bytes, owner: file)
    }
    return (tensors, metadata)
  }
}
