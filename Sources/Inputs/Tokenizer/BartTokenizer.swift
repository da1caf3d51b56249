// Florence-2's tokenizer: BART byte-level BPE, token for token what the reference computes
// (`tokenizers` 0.23 / transformers BartTokenizerFast on the model's tokenizer.json, plus the 1,024 tokens
// the Florence-2 processor adds at load). SPEC.md §5.3; test vectors in Tests/TokenizerTests.
//
// Use:
//     let tok = try BartTokenizer(folder: modelFolder)   // tokenizer.json, or vocab.json + merges.txt
//     let ids = tok.encode("What does the image describe?")        // [0, 2264, ..., 2]  (<s> ... </s>)
//     let raw = tok.encode(caption, addSpecialTokens: false)       // no <s> </s>
//     let cut = tok.encode(caption, maxLength: 1024)               // keeps <s> and </s>, like transformers
//     tok.decode(ids)                                  // "<s>What does the image describe?</s>"
//     tok.decode(ids, skipSpecialTokens: true)         // drops <s> <pad> </s> <unk> <mask> <loc_*> ...
//     try tok.tokenStrings(ids)                        // ["<s>", "What", "Ġdoes", ...]
//     FlorenceTask.prompt(for: "<CAPTION>")            // the text the processor tokenizes (FlorenceTask.swift)
//
// Encoding: added tokens are cut out of the raw text first (AddedVocabulary.swift), the rest is split by
// the GPT-2 regex (ByteLevel.swift) and each piece is BPE-merged (BytePairModel.swift, cached).
// Decoding: each token's bytes are concatenated and read as UTF-8, invalid sequences becoming U+FFFD
// (Rust's from_utf8_lossy and Swift's decoder both replace each maximal invalid subpart).
// Ids the tokenizer does not know (negative, >= vocabularySize) are skipped by decode, as the library
// skips unknown ids; tokenStrings throws on them instead.
// Thread-safe: one lock around the word cache.
import Foundation

public final class BartTokenizer: @unchecked Sendable {
  /// The tokens the Florence-2 processor adds, in its order (ids 50265...51288 on BART's vocabulary).
  public static let florenceTokens: [String] =
    ["<od>", "</od>", "<ocr>", "</ocr>"] + (0..<1000).map { "<loc_\($0)>" }
    + [
      "<cap>", "</cap>", "<ncap>", "</ncap>", "<dcap>", "</dcap>", "<grounding>", "</grounding>", "<seg>", "</seg>",
      "<sep>", "<region_cap>", "</region_cap>", "<region_to_desciption>", "</region_to_desciption>", "<proposal>",
      "</proposal>", "<poly>", "</poly>", "<and>",
    ]

  /// Number of token ids, added tokens included (51,289 for Florence-2 = the model's vocab_size).
  public let vocabularySize: Int
  /// `<s>` and `</s>` as the post-processor uses them (0 and 2).
  public let bosId: Int
  public let eosId: Int
  /// `<pad>` (1), if the tokenizer has it.
  public let padId: Int?

  private let model: BytePairModel
  private let added: AddedVocabulary
  private let tokenByID: [String?]  // id -> token string
  private let idByToken: [[UInt8]: Int]  // UTF-8 of a token string -> id (added tokens win)
  private let decodeBytes: [UInt8]  // bytes of every token, back to back
  private let decodeStart: [Int]  // id -> range in decodeBytes (decodeStart[id]..<decodeStart[id+1])

  private let lock = NSLock()
  private let cache = WordCache()
  private var scratch: [Int32] = []

  /// Loads `tokenizer.json` (or `vocab.json` + `merges.txt`) from a model folder and adds the Florence
  /// tokens the way the Florence-2 processor does (tokens the folder already has keep their ids).
  public convenience init(folder: URL) throws {
    try self.init(definition: TokenizerFiles.load(folder: folder))
  }

  init(definition d: TokenizerDefinition) throws {
    let source = d.file
    model = try BytePairModel(vocab: d.vocab, merges: d.merges, file: source)
    var added = AddedVocabulary(d.addedTokens)
    added.addSpecialTokens(Self.florenceTokens, modelVocab: d.vocab)
    self.added = added

    var strings: [Int: String] = [:]
    for (token, id) in d.vocab { strings[id] = token }
    for (id, t) in added.tokens { strings[id] = t.content }
    let limit = (strings.keys.max() ?? -1) + 1
    var tokenByID = [String?](repeating: nil, count: limit)
    var bytes: [UInt8] = []
    var start = [Int](repeating: 0, count: limit + 1)
    for id in 0..<limit {
      start[id] = bytes.count
      if let s = strings[id] {
        tokenByID[id] = s
        bytes += ByteLevel.bytes(ofToken: s)
      }
    }
    start[limit] = bytes.count
    self.tokenByID = tokenByID
    var idByToken: [[UInt8]: Int] = [:]
    for (token, id) in d.vocab { idByToken[Array(token.utf8)] = id }
    for (id, t) in added.tokens { idByToken[Array(t.content.utf8)] = id }
    self.idByToken = idByToken
    decodeBytes = bytes
    decodeStart = start
    vocabularySize = strings.count
    bosId = d.cls.1
    eosId = d.sep.1
    padId = added.id(of: "<pad>") ?? d.vocab["<pad>"]
    for (name, id) in [d.cls, d.sep] where id < 0 || id >= limit || tokenByID[id] != name {
      throw TokenizerError(file: source, problem: "post-processor token \(name) has id \(id), not its vocabulary id")
    }
  }

  /// Token ids of `text`: `<s> ... </s>` unless `addSpecialTokens` is false. With `maxLength`, the text's
  /// tokens are cut so that the result (specials included) has at most maxLength ids; as in transformers,
  /// a maxLength smaller than the number of special tokens (2) leaves the result uncut.
  public func encode(_ text: String, addSpecialTokens: Bool = true, maxLength: Int? = nil) -> [Int] {
    var content = encodeContent(text)
    let specials = addSpecialTokens ? 2 : 0
    if let maxLength, maxLength >= specials, content.count > maxLength - specials {
      content.removeLast(content.count - (maxLength - specials))
    }
    return addSpecialTokens ? [bosId] + content + [eosId] : content
  }

  /// The token strings of `text` (no `<s>` `</s>`), e.g. ["What", "Ġdoes", ...].
  public func tokenize(_ text: String) -> [String] {
    encodeContent(text).map { tokenByID[$0] ?? "" }
  }

  private func encodeContent(_ text: String) -> [Int] {
    var text = text
    return text.withUTF8 { bytes -> [Int] in
      var out: [Int] = []
      out.reserveCapacity(bytes.count / 3 + 4)
      lock.lock()
      defer { lock.unlock() }
      for segment in added.split(bytes) {
        switch segment {
        case .token(let id):
          out.append(id)
        case .text(let range):
          ByteLevelSplitter.split(bytes, range) { piece in
            encodePiece(UnsafeBufferPointer(rebasing: bytes[piece]), into: &out)
          }
        }
      }
      return out
    }
  }

  private func encodePiece(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [Int]) {
    let key = WordCache.Key(piece)
    if let key, cache.lookup(key, into: &out) { return }
    scratch.removeAll(keepingCapacity: true)
    model.encodeWord(piece, into: &scratch)
    for id in scratch { out.append(Int(id)) }
    if let key { cache.store(key, scratch) }
  }

  /// Text of `ids`. `skipSpecialTokens` drops every special token (`<s>` `<pad>` `</s>` `<unk>` `<mask>` and
  /// the 1,024 Florence tokens). `cleanUpTokenizationSpaces` applies transformers' clean-up (" ." -> ".",
  /// " n't" -> "n't", ...), which transformers >= 4.45 no longer does by default for this tokenizer.
  public func decode(_ ids: [Int], skipSpecialTokens: Bool = false, cleanUpTokenizationSpaces: Bool = false)
    -> String
  {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(ids.count * 4)
    for id in ids where id >= 0 && id < tokenByID.count && tokenByID[id] != nil {
      if skipSpecialTokens && added.isSpecial(id) { continue }
      bytes += decodeBytes[decodeStart[id]..<decodeStart[id + 1]]
    }
    let text = String(decoding: bytes, as: UTF8.self)
    return cleanUpTokenizationSpaces ? Self.cleanUpTokenization(text) : text
  }

  /// transformers' `clean_up_tokenization`: these plain replacements, in this order.
  public static func cleanUpTokenization(_ text: String) -> String {
    let rules = [
      (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"),
      (" 've", "'ve"), (" 're", "'re"),
    ]
    var bytes = Array(text.utf8)
    for (target, replacement) in rules {
      bytes = UTF8Text.replacingAll(bytes, Array(target.utf8), with: Array(replacement.utf8))
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Token strings of `ids` as the vocabulary spells them ("Ġdoes", "<loc_10>").
  public func tokenStrings(_ ids: [Int]) throws -> [String] {
    try ids.map { id in
      guard id >= 0, id < tokenByID.count, let s = tokenByID[id] else {
        throw TokenizerError(
          file: "token ids", problem: "id \(id) is not in the vocabulary (ids 0 to \(vocabularySize - 1))")
      }
      return s
    }
  }

  /// Id of a token string ("<loc_10>", "Ġthe"), if it is one.
  public func id(of token: String) -> Int? { idByToken[Array(token.utf8)] }

  /// Whether `id` is a special token (skipped by `decode(skipSpecialTokens: true)`).
  public func isSpecial(_ id: Int) -> Bool { added.isSpecial(id) }
}

/// Byte-level string helpers that, unlike String's, neither merge grapheme clusters nor compare by
/// canonical equivalence: Python's `str.replace`/`in` on code points are byte operations on UTF-8.
enum UTF8Text {
  /// Python's `text.replace(target, replacement)`: left to right, non-overlapping, one pass.
  static func replacingAll(_ text: [UInt8], _ target: [UInt8], with replacement: [UInt8]) -> [UInt8] {
    guard !target.isEmpty, text.count >= target.count else { return text }
    var out: [UInt8] = []
    out.reserveCapacity(text.count)
    var i = 0
    while i < text.count {
      if i + target.count <= text.count && text[i] == target[0] && text[i..<(i + target.count)].elementsEqual(target) {
        out += replacement
        i += target.count
      } else {
        out.append(text[i])
        i += 1
      }
    }
    return out
  }

  /// The character starting at byte `i` of valid UTF-8: (scalar value, byte length).
  @inline(__always)
  static func decodeScalar(_ bytes: UnsafeBufferPointer<UInt8>, _ i: Int) -> (value: UInt32, length: Int) {
    let b0 = UInt32(bytes[i])
    if b0 < 0x80 { return (b0, 1) }
    if b0 < 0xE0 { return (((b0 & 0x1F) << 6) | (UInt32(bytes[i + 1]) & 0x3F), 2) }
    if b0 < 0xF0 {
      return (((b0 & 0x0F) << 12) | ((UInt32(bytes[i + 1]) & 0x3F) << 6) | (UInt32(bytes[i + 2]) & 0x3F), 3)
    }
    let v = ((b0 & 0x07) << 18) | ((UInt32(bytes[i + 1]) & 0x3F) << 12) | ((UInt32(bytes[i + 2]) & 0x3F) << 6)
    return (v | (UInt32(bytes[i + 3]) & 0x3F), 4)
  }

  /// Python's `target in text`.
  static func contains(_ text: [UInt8], _ target: [UInt8]) -> Bool {
    guard !target.isEmpty else { return true }
    guard text.count >= target.count else { return false }
    for i in 0...(text.count - target.count) where text[i] == target[0] {
      if text[i..<(i + target.count)].elementsEqual(target) { return true }
    }
    return false
  }
}
