// A pickle reader that accepts only what torch.load(weights_only=True) accepts for a state dict, and
// runs nothing. The opcode set is torch's `_weights_only_unpickler` (protocol 2, as torch.save writes);
// GLOBAL is checked against an allow-list the moment it is read, and REDUCE "calls" an allowed name by
// building the value it stands for. Anything else (os.system, builtins.eval, a class's __reduce__) is
// refused with an error that names it.

struct RestrictedUnpickler {
  /// `persistentLoad` turns a persistent id ('storage', type, key, location, numel) into a storage.
  init(bytes: [UInt8], context: String, persistentLoad: @escaping (PickleValue) throws -> PickleValue) {
    self.bytes = bytes
    self.context = context
    self.persistentLoad = persistentLoad
  }

  private let bytes: [UInt8]
  private let context: String
  private let persistentLoad: (PickleValue) throws -> PickleValue
  private var at = 0
  private var opcodeAt = 0
  private var stack: [PickleValue] = []
  private var metastack: [[PickleValue]] = []
  private var memo: [Int: PickleValue] = [:]

  /// Storage classes (as torch.save names them) and the element type each holds.
  static let storageTypes: [String: CheckpointDType] = [
    "torch.FloatStorage": .f32, "torch.HalfStorage": .f16, "torch.BFloat16Storage": .bf16,
    "torch.DoubleStorage": .f64, "torch.LongStorage": .i64, "torch.IntStorage": .i32, "torch.ShortStorage": .i16,
    "torch.CharStorage": .i8, "torch.ByteStorage": .u8, "torch.BoolStorage": .bool,
    "torch.UntypedStorage": .u8, "torch.storage.UntypedStorage": .u8,
  ]
  /// `torch.float16` and friends, as values (`_rebuild_tensor_v3` takes one).
  static let dtypes: [String: CheckpointDType] = [
    "torch.float32": .f32, "torch.float16": .f16, "torch.bfloat16": .bf16, "torch.float64": .f64,
    "torch.int64": .i64, "torch.int32": .i32, "torch.int16": .i16, "torch.int8": .i8, "torch.uint8": .u8,
    "torch.bool": .bool,
  ]
  static let functions: Set<String> = [
    "collections.OrderedDict", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3", "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state", "torch.Size", "torch.device",
  ]

  private func fail(_ why: String) -> CheckpointError {
    CheckpointError(file: context, "pickle byte \(opcodeAt): \(why)")
  }

  private mutating func read(_ n: Int) throws -> ArraySlice<UInt8> {
    guard n >= 0, n <= bytes.count - at else { throw fail("truncated (wanted \(n) more bytes)") }
    defer { at += n }
    return bytes[at..<(at + n)]
  }

  private mutating func readLE<T: FixedWidthInteger>(_: T.Type) throws -> T {
    try read(MemoryLayout<T>.size).reversed().reduce(T(0)) { $0 << 8 | T(truncatingIfNeeded: $1) }
  }

  private mutating func line() throws -> String {
    guard let end = bytes[at...].firstIndex(of: 0x0A) else { throw fail("truncated GLOBAL name") }
    let text = try read(end - at)
    at += 1
    guard let s = String(validating: text, as: UTF8.self) else { throw fail("GLOBAL name is not UTF-8") }
    return s
  }

  private mutating func pop() throws -> PickleValue {
    guard let v = stack.popLast() else { throw fail("stack underflow") }
    return v
  }

  private mutating func popMark() throws -> [PickleValue] {
    guard let outer = metastack.popLast() else { throw fail("no MARK to pop to") }
    defer { stack = outer }
    return stack
  }

  private func utf8(_ raw: ArraySlice<UInt8>) throws -> String {
    guard let s = String(validating: raw, as: UTF8.self) else { throw fail("string is not UTF-8") }
    return s
  }

  mutating func load() throws -> PickleValue {
    while true {
      opcodeAt = at
      let op = try read(1).first!
      switch op {
      case 0x80:  // PROTO
        let proto = try read(1).first!
        guard proto <= 5 else { throw fail("unknown pickle protocol \(proto)") }
      case UInt8(ascii: "."):  // STOP
        return try pop()
      case UInt8(ascii: "c"):  // GLOBAL
        var module = try line()
        let name = try line()
        // Python 2 names, as pickle protocol 2 writes builtins (torch maps them the same way).
        if module == "__builtin__" { module = "builtins" } else if module == "copy_reg" { module = "copyreg" }
        let full = "\(module).\(name)"
        guard Self.functions.contains(full) || Self.storageTypes[full] != nil || Self.dtypes[full] != nil else {
          throw fail(
            "refused global '\(full)': flr loads only tensors and plain containers (what torch.load(weights_only=True)"
              + " accepts for a state dict); nothing in the file was run")
        }
        stack.append(.global(full))
      case 0x81:  // NEWOBJ
        throw fail("NEWOBJ (building an object of a class) is not allowed in a state dict")
      case UInt8(ascii: "R"):  // REDUCE
        let args = try pop()
        guard case .global(let function) = try pop() else {
          throw fail("REDUCE of something that is not an allowed global")
        }
        guard case .tuple(let items) = args else { throw fail("REDUCE arguments are not a tuple") }
        stack.append(try call(function, items))
      case UInt8(ascii: "b"):  // BUILD: sets attributes (an OrderedDict's _metadata, a Parameter's state); ignored
        _ = try pop()
        guard let target = stack.last else { throw fail("stack underflow") }
        switch target {
        case .dict, .tensor: break
        default: throw fail("BUILD of a \(target.kind) is not allowed")
        }
      case UInt8(ascii: "a"):  // APPEND
        let item = try pop()
        guard case .list(let list) = stack.last else { throw fail("APPEND to something that is not a list") }
        list.items.append(item)
      case UInt8(ascii: "e"):  // APPENDS
        let items = try popMark()
        guard case .list(let list) = stack.last else { throw fail("APPENDS to something that is not a list") }
        list.items.append(contentsOf: items)
      case UInt8(ascii: "s"):  // SETITEM
        let value = try pop()
        let key = try pop()
        guard case .dict(let dict) = stack.last else { throw fail("SETITEM on something that is not a dict") }
        dict.set(key, value)
      case UInt8(ascii: "u"):  // SETITEMS
        let items = try popMark()
        guard case .dict(let dict) = stack.last else { throw fail("SETITEMS on something that is not a dict") }
        guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
        for i in stride(from: 0, to: items.count, by: 2) { dict.set(items[i], items[i + 1]) }
      case UInt8(ascii: "("):  // MARK
        metastack.append(stack)
        stack = []
      case UInt8(ascii: "t"): stack.append(.tuple(try popMark()))  // TUPLE
      case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
        let n = Int(op - 0x84)
        guard stack.count >= n else { throw fail("stack underflow") }
        let items = Array(stack.suffix(n))
        stack.removeLast(n)
        stack.append(.tuple(items))
      case UInt8(ascii: "N"): stack.append(.none)
      case 0x89: stack.append(.bool(false))  // NEWFALSE
      case 0x88: stack.append(.bool(true))  // NEWTRUE
      case UInt8(ascii: ")"): stack.append(.tuple([]))  // EMPTY_TUPLE
      case UInt8(ascii: "]"): stack.append(.list(PickleList()))  // EMPTY_LIST
      case UInt8(ascii: "}"): stack.append(.dict(PickleDict()))  // EMPTY_DICT
      case 0x8F: stack.append(.set)  // EMPTY_SET
      case UInt8(ascii: "J"): stack.append(.int(Int(try readLE(Int32.self))))  // BININT
      case UInt8(ascii: "K"): stack.append(.int(Int(try read(1).first!)))  // BININT1
      case UInt8(ascii: "M"): stack.append(.int(Int(try readLE(UInt16.self))))  // BININT2
      case UInt8(ascii: "G"):  // BINFLOAT, big-endian
        let raw = try read(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        stack.append(.float(Double(bitPattern: raw)))
      case UInt8(ascii: "X"):  // BINUNICODE
        let n = Int(try readLE(UInt32.self))
        stack.append(.string(try utf8(try read(n))))
      case UInt8(ascii: "U"):  // SHORT_BINSTRING (torch.load decodes these as UTF-8)
        let n = Int(try read(1).first!)
        stack.append(.string(try utf8(try read(n))))
      case UInt8(ascii: "Q"):  // BINPERSID
        let pid = try pop()
        guard case .tuple(let items) = pid, case .string("storage") = items.first else {
          throw fail("persistent id is not a ('storage', ...) tuple")
        }
        stack.append(try persistentLoad(pid))
      case UInt8(ascii: "h"), UInt8(ascii: "j"):  // BINGET, LONG_BINGET
        let i = op == UInt8(ascii: "h") ? Int(try read(1).first!) : Int(try readLE(UInt32.self))
        guard let v = memo[i] else { throw fail("memo entry \(i) was never stored") }
        stack.append(v)
      case UInt8(ascii: "q"), UInt8(ascii: "r"):  // BINPUT, LONG_BINPUT
        let i = op == UInt8(ascii: "q") ? Int(try read(1).first!) : Int(try readLE(UInt32.self))
        guard let top = stack.last else { throw fail("stack underflow") }
        memo[i] = top
      case 0x8A:  // LONG1: little-endian two's complement
        let n = Int(try read(1).first!)
        let raw = try read(n)
        guard n <= 8 else { throw fail("integer of \(n) bytes is too large") }
        var v: UInt64 = 0
        for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        if n > 0, n < 8, raw.last! & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) }
        stack.append(.int(Int(Int64(bitPattern: v))))
      default:
        throw fail(
          "unsupported pickle opcode 0x\(String(op, radix: 16)) (torch.load(weights_only=True) refuses it too)")
      }
    }
  }

  /// What REDUCE builds for each allowed global; `args` is the pickled argument tuple.
  private func call(_ function: String, _ args: [PickleValue]) throws -> PickleValue {
    func int(_ v: PickleValue) throws -> Int {
      guard case .int(let i) = v else { throw fail("\(function): expected an int, got \(v.kind)") }
      return i
    }
    func ints(_ v: PickleValue) throws -> [Int] {
      guard case .tuple(let items) = v else { throw fail("\(function): expected a tuple of ints, got \(v.kind)") }
      return try items.map(int)
    }
    switch function {
    case "collections.OrderedDict":
      let dict = PickleDict()
      if case .list(let pairs)? = args.first {
        for pair in pairs.items {
          guard case .tuple(let kv) = pair, kv.count == 2 else { throw fail("OrderedDict item is not a pair") }
          dict.set(kv[0], kv[1])
        }
      } else if !args.isEmpty {
        throw fail("OrderedDict built from a \(args[0].kind)")
      }
      return .dict(dict)
    case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3":
      // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, dtype (v3)], metadata])
      guard args.count >= 4, case .storage(var storage) = args[0] else {
        throw fail("\(function) without a storage argument")
      }
      if function.hasSuffix("v3") {
        guard args.count >= 7, case .global(let name) = args[6], let dtype = Self.dtypes[name] else {
          throw fail("\(function) without a dtype")
        }
        storage = TorchStorage(
          key: storage.key, dtype: dtype, elementCount: storage.bytes.count / dtype.byteSize,
          bytes: UnsafeRawBufferPointer(
            rebasing: storage.bytes[0..<(storage.bytes.count / dtype.byteSize * dtype.byteSize)]))
      }
      let shape = try ints(args[2])
      let strides = try ints(args[3])
      guard shape.count == strides.count else {
        throw fail("tensor size \(shape) and stride \(strides) differ in rank")
      }
      return .tensor(TorchTensor(storage: storage, offset: try int(args[1]), shape: shape, strides: strides))
    case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
      guard case .tensor? = args.first else { throw fail("\(function) of something that is not a tensor") }
      return args[0]
    case "torch.Size":
      guard args.count == 1, case .tuple = args[0] else { throw fail("torch.Size of something that is not a tuple") }
      return args[0]
    case "torch.device":
      guard case .string? = args.first else { throw fail("torch.device without a name") }
      return args[0]
    default:
      // Storage types and dtypes are allowed as values only.
      throw fail("'\(function)' cannot be called")
    }
  }
}
