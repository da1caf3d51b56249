import XCTest

@testable import FlrCheckpoints

final class RestrictedUnpicklerTests: XCTestCase {
  func unpickle(_ bytes: [UInt8]) throws -> PickleValue {
    var u = RestrictedUnpickler(bytes: bytes, context: "test.pkl") { _ in .none }
    return try u.load()
  }

  func message(_ bytes: [UInt8]) -> String {
    checkpointError { _ = try unpickle(bytes) }?.description ?? ""
  }

  func global(_ module: String, _ name: String) -> [UInt8] { [UInt8(ascii: "c")] + Array("\(module)\n\(name)\n".utf8) }

  func testPlainValuesAndContainers() throws {
    // {'a': (1, -2, 300, 70000, True, None, 0.5, 'é'), 'b': [2**40]}, pickled by hand with protocol 2 opcodes.
    var p: [UInt8] = [0x80, 2, UInt8(ascii: "}"), UInt8(ascii: "q"), 0, UInt8(ascii: "(")]
    p += [UInt8(ascii: "X"), 1, 0, 0, 0, UInt8(ascii: "a"), UInt8(ascii: "(")]
    p += [UInt8(ascii: "K"), 1, UInt8(ascii: "J"), 0xFE, 0xFF, 0xFF, 0xFF, UInt8(ascii: "M"), 0x2C, 0x01]
    p += [0x8A, 3, 0x70, 0x11, 0x01, 0x88, UInt8(ascii: "N"), UInt8(ascii: "G"), 0x3F, 0xE0, 0, 0, 0, 0, 0, 0]
    p += [UInt8(ascii: "X"), 2, 0, 0, 0, 0xC3, 0xA9, UInt8(ascii: "t")]
    p += [UInt8(ascii: "U"), 1, UInt8(ascii: "b"), UInt8(ascii: "]"), 0x8A, 6, 0, 0, 0, 0, 0, 1, UInt8(ascii: "a")]
    p += [UInt8(ascii: "u"), UInt8(ascii: ".")]
    guard case .dict(let dict) = try unpickle(p) else { return XCTFail("not a dict") }
    XCTAssertEqual(dict.entries.count, 2)
    guard case .tuple(let items) = dict.entries[0].value else { return XCTFail("not a tuple") }
    let described = items.map { v -> String in
      switch v {
      case .int(let i): return "\(i)"
      case .bool(let b): return "\(b)"
      case .none: return "None"
      case .float(let f): return "\(f)"
      case .string(let s): return s
      default: return v.kind
      }
    }
    XCTAssertEqual(described, ["1", "-2", "300", "70000", "true", "None", "0.5", "é"])
    guard case .list(let list) = dict.entries[1].value, case .int(let big) = list.items.first else {
      return XCTFail("not a list of int")
    }
    XCTAssertEqual(big, 1 << 40)
  }

  func testMemoAboveByteRangeSharesOneObject() throws {
    // [] LONG_BINPUT 300, K 5 APPEND, LONG_BINGET 300, TUPLE2: both tuple items are the same list.
    let p: [UInt8] = [
      0x80, 2, UInt8(ascii: "]"), UInt8(ascii: "r"), 0x2C, 0x01, 0, 0, UInt8(ascii: "K"), 5, UInt8(ascii: "a"),
      UInt8(ascii: "j"), 0x2C, 0x01, 0, 0, 0x86, UInt8(ascii: "."),
    ]
    guard case .tuple(let items) = try unpickle(p), case .list(let a) = items[0], case .list(let b) = items[1] else {
      return XCTFail("not a pair of lists")
    }
    XCTAssertTrue(a === b)
    XCTAssertEqual(a.items.count, 1)
  }

  func testRefusesEverythingOutsideTheAllowList() {
    XCTAssertTrue(message([0x80, 2] + global("os", "system")).contains("refused global 'os.system'"))
    XCTAssertTrue(message(global("__builtin__", "eval")).contains("refused global 'builtins.eval'"))
    XCTAssertTrue(message(global("torch", "load")).contains("refused global 'torch.load'"))
    XCTAssertTrue(message(global("collections", "Counter")).contains("refused global 'collections.Counter'"))
    // Allowed names are still not callable unless they build a value: a dtype or storage class is data.
    XCTAssertTrue(
      message(global("torch", "HalfStorage") + [UInt8(ascii: ")"), UInt8(ascii: "R")]).contains("cannot be called"))
    // NEWOBJ, INST-style opcodes and protocol-4 opcodes torch refuses too.
    XCTAssertTrue(message(global("collections", "OrderedDict") + [UInt8(ascii: ")"), 0x81]).contains("NEWOBJ"))
    XCTAssertTrue(message([UInt8(ascii: "i")] + Array("os\nsystem\n".utf8)).contains("unsupported pickle opcode 0x69"))
    XCTAssertTrue(message([0x80, 4, 0x95]).contains("unsupported pickle opcode 0x95"))
    XCTAssertTrue(message([UInt8(ascii: "R")]).contains("stack underflow"))
    XCTAssertTrue(message([UInt8(ascii: "h"), 3]).contains("memo entry 3"))
    XCTAssertTrue(message([UInt8(ascii: "X"), 0xFF, 0xFF, 0xFF, 0x7F, 0x41]).contains("truncated"))
    XCTAssertTrue(message([UInt8(ascii: "}")]).contains("truncated"))  // no STOP
    XCTAssertTrue(message([UInt8(ascii: "K"), 1, UInt8(ascii: "Q")]).contains("persistent id"))
    XCTAssertTrue(message([UInt8(ascii: "K"), 1, UInt8(ascii: "K"), 2, UInt8(ascii: "a")]).contains("not a list"))
    XCTAssertTrue(message([UInt8(ascii: "K"), 1, UInt8(ascii: "K"), 2, UInt8(ascii: "b")]).contains("BUILD of a int"))
    XCTAssertTrue(message([0x80, 2]).contains("pickle byte 2"))
  }
}
