// The other file layouts a model folder may have, and bad files. The alternative layouts are written
// from the committed tokenizer.json in the format the real files use (vocab.json: a JSON object;
// merges.txt: "#version: 0.2" then one "a b" pair a line; newer tokenizer.json: merges as ["a", "b"]),
// and must tokenize the whole corpus exactly as the reference did.
import Foundation
import XCTest

@testable import FlrTokenizer

final class LoadingTests: XCTestCase {
  private var temp: URL!

  override func setUpWithError() throws {
    temp = FileManager.default.temporaryDirectory.appendingPathComponent("flr-tok-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: temp, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: temp) }

  private func fixtureJSON() throws -> [String: Any] {
    let data = try Data(contentsOf: TokenizerFixtures.folder.appendingPathComponent("tokenizer.json"))
    return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  private func write(_ object: Any, _ name: String, in folder: URL) throws {
    try JSONSerialization.data(withJSONObject: object).write(to: folder.appendingPathComponent(name))
  }

  /// Encodes a sample of the corpus (every 4th string) and compares with the reference ids.
  private func assertCorpusParity(_ tok: BartTokenizer, _ label: String) throws {
    let items = try TokenizerFixtures.lines("encode.jsonl", as: TokenizerFixtures.EncodeItem.self)
    for (n, item) in items.enumerated() where n % 4 == 0 {
      XCTAssertEqual(tok.encode(item.text), item.ids, "\(label): line \(n + 1)")
    }
  }

  func testVocabJSONAndMergesTxt() throws {
    let model = try XCTUnwrap(try fixtureJSON()["model"] as? [String: Any])
    try write(try XCTUnwrap(model["vocab"]), "vocab.json", in: temp)
    let merges = try XCTUnwrap(model["merges"] as? [String])
    try ("#version: 0.2\n" + merges.joined(separator: "\n") + "\n").write(
      to: temp.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8)
    let tok = try BartTokenizer(folder: temp)
    XCTAssertEqual(tok.vocabularySize, 51289)
    try assertCorpusParity(tok, "vocab.json + merges.txt")
  }

  func testMergesAsTwoElementLists() throws {
    var root = try fixtureJSON()
    var model = try XCTUnwrap(root["model"] as? [String: Any])
    model["merges"] = try XCTUnwrap(model["merges"] as? [String]).map { $0.split(separator: " ").map(String.init) }
    root["model"] = model
    try write(root, "tokenizer.json", in: temp)
    try assertCorpusParity(try BartTokenizer(folder: temp), "merges as lists")
  }

  /// A tokenizer.json saved after the processor ran already holds the Florence tokens: same ids.
  func testFolderThatAlreadyHasTheFlorenceTokens() throws {
    var root = try fixtureJSON()
    var added = try XCTUnwrap(root["added_tokens"] as? [[String: Any]])
    for (i, t) in BartTokenizer.florenceTokens.enumerated() {
      added.append([
        "id": 50265 + i, "content": t, "special": true, "lstrip": false, "rstrip": false, "normalized": false,
        "single_word": false,
      ])
    }
    root["added_tokens"] = added
    try write(root, "tokenizer.json", in: temp)
    let tok = try BartTokenizer(folder: temp)
    XCTAssertEqual(tok.vocabularySize, 51289)
    XCTAssertEqual(tok.id(of: "<and>"), 51288)
    try assertCorpusParity(tok, "Florence tokens present")
  }

  /// A minimal valid tokenizer.json: the 256 byte tokens, `<s>` `</s>`, one merge "Ġ t".
  private func tinyTokenizerJSON() -> [String: Any] {
    var vocab: [String: Any] = ["<s>": 256, "</s>": 257, "Ġt": 258]
    for b in 0..<256 { vocab[ByteLevel.spell([UInt8(b)])] = b }
    return [
      "model": ["type": "BPE", "vocab": vocab, "merges": ["Ġ t"]],
      "normalizer": NSNull(),
      "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false],
      "post_processor": ["type": "RobertaProcessing", "cls": ["<s>", 256], "sep": ["</s>", 257]],
      "decoder": ["type": "ByteLevel"],
      "added_tokens": [
        ["id": 256, "content": "<s>", "special": true], ["id": 257, "content": "</s>", "special": true],
      ],
    ]
  }

  private func assertRefused(_ mutate: (inout [String: Any]) -> Void, mentions words: String) throws {
    var root = tinyTokenizerJSON()
    mutate(&root)
    try write(root, "tokenizer.json", in: temp)
    XCTAssertThrowsError(try BartTokenizer(folder: temp)) { error in
      let message = "\(error)"
      XCTAssertTrue(message.contains("tokenizer.json") && message.contains(words), message)
    }
  }

  private func setModel(_ key: String, _ value: Any) -> (inout [String: Any]) -> Void {
    return { root in
      var model = root["model"] as? [String: Any] ?? [:]
      model[key] = value
      root["model"] = model
    }
  }

  func testBadFilesAreRefusedWithTheFileAndProblem() throws {
    try write(tinyTokenizerJSON(), "tokenizer.json", in: temp)
    let tiny = try BartTokenizer(folder: temp)  // the unmodified tiny file loads: the errors below are the edits'
    XCTAssertEqual(tiny.encode(" t"), [256, 258, 257])
    XCTAssertEqual(tiny.vocabularySize, 259 + 1024)

    try assertRefused({ $0["model"] = nil }, mentions: "model")
    try assertRefused({ $0["normalizer"] = ["type": "NFC"] }, mentions: "normalizer")
    try assertRefused({ $0["pre_tokenizer"] = ["type": "Whitespace"] }, mentions: "ByteLevel")
    try assertRefused(
      { $0["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": true] }, mentions: "add_prefix_space")
    try assertRefused({ $0["post_processor"] = NSNull() }, mentions: "RobertaProcessing")
    try assertRefused(setModel("merges", ["Ġ t", "nonexistent token"]), mentions: "merge 1")
    try assertRefused(setModel("merges", ["Ġt"]), mentions: "model.merges[0]")
    try assertRefused(setModel("dropout", 0.1), mentions: "dropout")
    try assertRefused(setModel("vocab", ["<s>": 0]), mentions: "byte 0")
    try assertRefused(setModel("vocab", "not an object"), mentions: "not valid JSON of the expected layout")

    try Data("{ not json".utf8).write(to: temp.appendingPathComponent("tokenizer.json"))
    XCTAssertThrowsError(try BartTokenizer(folder: temp)) { XCTAssertTrue("\($0)".contains("not valid JSON"), "\($0)") }

    let empty = temp.appendingPathComponent("empty")
    try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
    XCTAssertThrowsError(try BartTokenizer(folder: empty)) { XCTAssertTrue("\($0)".contains("no tokenizer.json")) }

    try write(["a": 0], "vocab.json", in: empty)
    try "#version: 0.2\na b c\n".write(
      to: empty.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8)
    XCTAssertThrowsError(try BartTokenizer(folder: empty)) {
      XCTAssertTrue("\($0)".contains("merges.txt: line 2"), "\($0)")
    }
  }

  func testTokenStringsRefusesUnknownIds() {
    let tok = TokenizerFixtures.tokenizer
    XCTAssertThrowsError(try tok.tokenStrings([0, 51289]))
    XCTAssertThrowsError(try tok.tokenStrings([-100]))
  }
}
