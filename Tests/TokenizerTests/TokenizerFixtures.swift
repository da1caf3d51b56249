// Loads Tests/Fixtures/tokenizer/, written by scripts/fixtures/tokenizer.py from the `tokenizers` library
// (cross-checked there against transformers' BartTokenizerFast) on Florence-2's tokenizer.json.
import Foundation
import XCTest

@testable import FlrTokenizer

enum TokenizerFixtures {
  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/tokenizer").standardized

  /// The tokenizer under test, loaded once from the committed tokenizer.json.
  static let tokenizer: BartTokenizer = {
    do { return try BartTokenizer(folder: folder) } catch { fatalError("cannot load fixture tokenizer: \(error)") }
  }()

  /// One JSON value per line. Lines are split on "\n" only: the texts hold U+2028, U+0085 and "\r" raw.
  /// (JSONDecoder, not JSONSerialization: the latter drops a U+FEFF that starts a string.)
  static func lines<T: Decodable>(_ name: String, as type: T.Type) throws -> [T] {
    let data = try Data(contentsOf: folder.appendingPathComponent(name))
    let decoder = JSONDecoder()
    return try data.split(separator: UInt8(ascii: "\n")).map { try decoder.decode(type, from: Data($0)) }
  }

  static func tasks() throws -> Tasks {
    try JSONDecoder().decode(Tasks.self, from: Data(contentsOf: folder.appendingPathComponent("tasks.json")))
  }

  /// encode.jsonl: a corpus string, its ids, and decode results where they differ from the text.
  struct EncodeItem: Decodable {
    let text: String
    let ids: [Int]
    let decoded: String?  // decode(ids) when it is not "<s>" + text + "</s>"
    let decoded_skip: String?  // decode(ids, skip_special_tokens=True) when it is not text
    let trunc: [Truncation]?
  }
  /// [max_length, add_special_tokens, ids]
  struct Truncation: Decodable {
    let maxLength: Int
    let addSpecialTokens: Bool
    let ids: [Int]
    init(from decoder: Decoder) throws {
      var c = try decoder.unkeyedContainer()
      maxLength = try c.decode(Int.self)
      addSpecialTokens = try c.decode(Bool.self)
      ids = try c.decode([Int].self)
    }
  }
  struct SweepItem: Decodable {
    let first: Int
    let last: Int
    let count: Int
    let fnv: String
    let pieces: Int
    let pieces_fnv: String
  }
  struct DecodeItem: Decodable {
    let ids: [Int]
    let text: String
    let skip: String
    let clean: String?  // after clean_up_tokenization, when it differs from text
  }
  struct Tasks: Decodable {
    struct Constructed: Decodable {
      let task: String
      let text: String?  // nil: the processor refuses the prompt
    }
    let task_prompts: [String: String]
    let post_processing_type: [String: String]
    let constructed: [Constructed]
    let pure_text: [[String]]
  }
}

/// Text equality by code points. Swift's `==` on String compares canonical equivalence ("e\u{301}" ==
/// "é"), which would hide a decoding difference.
func sameText(_ a: String, _ b: String) -> Bool { a.unicodeScalars.elementsEqual(b.unicodeScalars) }

/// A readable rendering of a string with its invisible characters escaped.
func escaped(_ s: String) -> String {
  s.unicodeScalars.map {
    $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? String($0) : "\\u{\(String($0.value, radix: 16))}"
  }
  .joined()
}
