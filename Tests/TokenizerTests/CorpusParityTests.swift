// Token parity with the reference on the whole hostile corpus (scripts/fixtures/tokenizer.py): every
// string's ids, its decoding with and without special tokens, truncation, a sweep over every code point,
// and random id sequences (special/added tokens, lone bytes making invalid UTF-8, unknown ids).
// Exact equality everywhere: ids and texts have no tolerance.
import XCTest

@testable import FlrTokenizer

final class CorpusParityTests: XCTestCase {
  let tok = TokenizerFixtures.tokenizer

  func testEncodeDecodeEveryCorpusString() throws {
    let items = try TokenizerFixtures.lines("encode.jsonl", as: TokenizerFixtures.EncodeItem.self)
    XCTAssertGreaterThanOrEqual(items.count, 2000)
    var failures = 0
    for (n, item) in items.enumerated() {
      let text = item.text, ids = item.ids
      let got = tok.encode(text)
      if got != ids {
        failures += 1
        if failures <= 10 { XCTFail("line \(n + 1) \"\(escaped(text))\": ids \(got) != \(ids)") }
        continue
      }
      let decoded = item.decoded ?? "<s>" + text + "</s>"
      XCTAssertTrue(sameText(tok.decode(ids), decoded), "line \(n + 1): decode")
      let skipped = item.decoded_skip ?? text
      XCTAssertTrue(sameText(tok.decode(ids, skipSpecialTokens: true), skipped), "line \(n + 1): decode skip")
      for t in item.trunc ?? [] {
        XCTAssertEqual(
          tok.encode(text, addSpecialTokens: t.addSpecialTokens, maxLength: t.maxLength), t.ids,
          "line \(n + 1): maxLength \(t.maxLength) addSpecialTokens \(t.addSpecialTokens)")
      }
    }
    XCTAssertEqual(failures, 0, "strings whose ids differ")
  }

  /// Every code point of planes 0-3 (surrogates excluded) next to a letter, a number, punctuation and a
  /// space: where the pre-tokenizer cuts shows whether it takes the character for a letter, a number,
  /// whitespace or other. Compared by count and FNV-1a-64 (uint32 little endian) of the piece lengths
  /// and of the ids, to keep the fixture small.
  func testEveryCodePointClassifiedAsTheReference() throws {
    var mismatches: [String] = []
    for item in try TokenizerFixtures.lines("sweep.jsonl", as: TokenizerFixtures.SweepItem.self) {
      var text = String.UnicodeScalarView()
      for v in item.first...item.last {
        guard let c = UnicodeScalar(UInt32(v)) else { continue }
        text.append(contentsOf: ["a", c, "1", c, "!", c, " ", c])
      }
      var string = String(text)
      var pieces: [Range<Int>] = []
      string.withUTF8 { bytes in ByteLevelSplitter.split(bytes, 0..<bytes.count) { pieces.append($0) } }
      let range = String(format: "U+%04X...U+%04X", item.first, item.last)
      if pieces.count != item.pieces || fnv1a(pieces.map(\.count)) != item.pieces_fnv {
        mismatches.append(range + " pre-tokenized")
      }
      let ids = tok.encode(string)
      if ids.count != item.count || fnv1a(ids) != item.fnv { mismatches.append(range + " ids") }
    }
    XCTAssertEqual(mismatches, [], "code point ranges tokenized differently")
  }

  func testDecodeRandomIdSequences() throws {
    let items = try TokenizerFixtures.lines("decode.jsonl", as: TokenizerFixtures.DecodeItem.self)
    XCTAssertGreaterThan(items.count, 1000)
    for (n, item) in items.enumerated() {
      let (ids, text, skip) = (item.ids, item.text, item.skip)
      let got = tok.decode(ids)
      XCTAssertTrue(sameText(got, text), "line \(n + 1) \(ids): \"\(escaped(got))\" != \"\(escaped(text))\"")
      let gotSkip = tok.decode(ids, skipSpecialTokens: true)
      XCTAssertTrue(sameText(gotSkip, skip), "line \(n + 1) skip: \"\(escaped(gotSkip))\" != \"\(escaped(skip))\"")
      let clean = item.clean ?? text
      XCTAssertTrue(sameText(tok.decode(ids, cleanUpTokenizationSpaces: true), clean), "line \(n + 1) clean-up")
    }
  }

  private func fnv1a(_ ids: [Int]) -> String {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for id in ids {
      var v = UInt32(truncatingIfNeeded: id)
      for _ in 0..<4 {
        h = (h ^ UInt64(v & 0xFF)) &* 0x0000_0100_0000_01B3
        v >>= 8
      }
    }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
  }
}
