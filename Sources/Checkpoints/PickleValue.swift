// The values the restricted unpickler builds. None of them can run code: a global is only a name from
// the allow-list, and "calling" one (REDUCE) is a switch over those names in RestrictedUnpickler.

/// A torch storage found through a persistent id: `archive/data/<key>`, `elementCount` elements of `dtype`.
struct TorchStorage {
  let key: String
  let dtype: CheckpointDType
  let elementCount: Int
  /// Exactly `elementCount * dtype.byteSize` bytes, a view into the mapped zip.
  let bytes: UnsafeRawBufferPointer
}

/// A tensor as torch's `_rebuild_tensor_v2` describes it: a strided view of a storage.
struct TorchTensor {
  let storage: TorchStorage
  /// In elements of the storage's dtype.
  let offset: Int
  let shape: [Int]
  let strides: [Int]
}

final class PickleList {
  var items: [PickleValue] = []
}

/// A dict or OrderedDict: insertion order kept, a later SETITEM of the same string key replaces it.
final class PickleDict {
  private(set) var entries: [(key: PickleValue, value: PickleValue)] = []
  private var stringKeys: [String: Int] = [:]

  func set(_ key: PickleValue, _ value: PickleValue) {
    if case .string(let s) = key {
      if let i = stringKeys[s] {
        entries[i].value = value
        return
      }
      stringKeys[s] = entries.count
    }
    entries.append((key, value))
  }
}

enum PickleValue {
  case none
  case bool(Bool)
  case int(Int)
  case float(Double)
  case string(String)
  case bytes([UInt8])
  case tuple([PickleValue])
  case list(PickleList)
  case dict(PickleDict)
  case set
  /// An allowed function, class, storage type or dtype, by its full dotted name.
  case global(String)
  case storage(TorchStorage)
  case tensor(TorchTensor)

  /// For messages: what kind of value this is.
  var kind: String {
    switch self {
    case .none: return "None"
    case .bool: return "bool"
    case .int: return "int"
    case .float: return "float"
    case .string: return "str"
    case .bytes: return "bytes"
    case .tuple: return "tuple"
    case .list: return "list"
    case .dict: return "dict"
    case .set: return "set"
    case .global(let name): return name
    case .storage: return "storage"
    case .tensor: return "tensor"
    }
  }
}
