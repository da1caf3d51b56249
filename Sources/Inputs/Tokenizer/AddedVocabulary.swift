// Added tokens (tokenizers/src/tokenizer/added_vocabulary.rs): `<s>`, `<mask>`, ... from the file and
// the 1,024 Florence tokens. They are found in the raw text before the pre-tokenizer runs: first the
// tokens marked not-normalized split the whole text, then the normalized ones split what is left (this
// tokenizer has no normalizer, so only the order differs). Each pass takes, scanning left to right, the
// longest token starting at the leftmost position that has one (aho-corasick LeftmostLongest).
// `lstrip`/`rstrip` tokens swallow the whitespace (White_Space property, Rust's char::is_whitespace)
// next to them, within the piece being split.

struct AddedVocabulary {
  private(set) var tokens: [Int: AddedToken] = [:]
  private var idByContent: [[UInt8]: Int] = [:]
  private var tries: [Bool: TokenTrie] = [:]  // keyed by `normalized`

  init(_ tokens: [AddedToken]) {
    for t in tokens { set(t) }
    rebuildTries()
  }

  func id(of content: String) -> Int? { idByContent[Array(content.utf8)] }
  func isSpecial(_ id: Int) -> Bool { tokens[id]?.special ?? false }

  /// `add_special_tokens` as the tokenizers library does it: a token already present keeps its id (added
  /// vocabulary first, then the model vocabulary) and takes the new flags; a new one gets the next id.
  mutating func addSpecialTokens(_ contents: [String], modelVocab: [String: Int]) {
    for content in contents where !content.isEmpty {
      let token = AddedToken(id: -1, content: content, special: true, lstrip: false, rstrip: false, normalized: false)
      let id: Int
      if let existing = self.id(of: content) {
        id = existing
      } else if let inModel = modelVocab[content] {
        id = inModel
      } else {
        let maxAdded = tokens.keys.max()
        id = maxAdded.map { $0 >= modelVocab.count ? $0 + 1 : modelVocab.count } ?? modelVocab.count
      }
      var t = token
      t.id = id
      set(t)
    }
    rebuildTries()
  }

  private mutating func set(_ t: AddedToken) {
    if let old = tokens[t.id] { idByContent[Array(old.content.utf8)] = nil }
    tokens[t.id] = t
    idByContent[Array(t.content.utf8)] = t.id
  }

  private mutating func rebuildTries() {
    var byNormalized: [Bool: TokenTrie] = [false: TokenTrie(), true: TokenTrie()]
    for t in tokens.values.sorted(by: { $0.id < $1.id }) {
      byNormalized[t.normalized]?.insert(Array(t.content.utf8), id: t.id)
    }
    tries = byNormalized
  }

  /// A piece of text: an added token's id, or a byte range still to be pre-tokenized.
  enum Segment: Equatable {
    case token(Int)
    case text(Range<Int>)
  }

  /// Splits `bytes` (valid UTF-8) into added tokens and the text between them.
  func split(_ bytes: UnsafeBufferPointer<UInt8>) -> [Segment] {
    var out: [Segment] = []
    for first in find(bytes, 0..<bytes.count, normalized: false) {
      guard case .text(let range) = first else {
        out.append(first)
        continue
      }
      out.append(contentsOf: find(bytes, range, normalized: true))
    }
    return out
  }

  /// `AddedVocabulary::find_matches` on `bytes[range]`.
  private func find(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, normalized: Bool) -> [Segment] {
    guard let trie = tries[normalized], !trie.isEmpty, !range.isEmpty else { return [.text(range)] }
    var out: [Segment] = []
    var offset = range.lowerBound
    var i = range.lowerBound
    while i < range.upperBound {
      guard let (id, end) = trie.longestMatch(bytes, at: i, limit: range.upperBound), let t = tokens[id] else {
        i += 1
        continue
      }
      var start = i
      var stop = end
      if t.lstrip { start = max(Whitespace.leftmostOfTrailingRun(bytes, range.lowerBound..<start), offset) }
      if t.rstrip { stop = Whitespace.endOfLeadingRun(bytes, stop..<range.upperBound) }
      if start > offset { out.append(.text(offset..<start)) }
      out.append(.token(id))
      offset = stop
      i = end
    }
    if offset != range.upperBound { out.append(.text(offset..<range.upperBound)) }
    return out
  }
}

/// Byte trie of token contents.
struct TokenTrie {
  private var children: [UInt64: Int32] = [:]  // node << 8 | byte -> child node
  private var terminal: [Int32: Int] = [:]  // node -> token id
  private var nodeCount: Int32 = 1
  private var firstBytes = [Bool](repeating: false, count: 256)

  var isEmpty: Bool { terminal.isEmpty }

  mutating func insert(_ content: [UInt8], id: Int) {
    guard let head = content.first else { return }
    firstBytes[Int(head)] = true
    var node: Int32 = 0
    for b in content {
      let key = UInt64(node) << 8 | UInt64(b)
      if let child = children[key] {
        node = child
      } else {
        children[key] = nodeCount
        node = nodeCount
        nodeCount += 1
      }
    }
    terminal[node] = id
  }

  /// The longest token starting at `start` and ending at or before `limit`: (id, end).
  func longestMatch(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, limit: Int) -> (Int, Int)? {
    guard firstBytes[Int(bytes[start])] else { return nil }
    var node: Int32 = 0
    var best: (Int, Int)?
    var i = start
    while i < limit, let child = children[UInt64(node) << 8 | UInt64(bytes[i])] {
      node = child
      i += 1
      if let id = terminal[node] { best = (id, i) }
    }
    return best
  }
}

/// Rust's `char::is_whitespace` (the White_Space property) on UTF-8 text.
enum Whitespace {
  /// Start of the run of whitespace characters that ends `bytes[range]` (range.upperBound if none).
  static func leftmostOfTrailingRun(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int {
    var start = range.upperBound
    while start > range.lowerBound {
      var c = start - 1
      while c > range.lowerBound && bytes[c] & 0xC0 == 0x80 { c -= 1 }  // back to the lead byte
      guard isWhitespace(UTF8Text.decodeScalar(bytes, c).value) else { break }
      start = c
    }
    return start
  }

  /// End of the run of whitespace characters that starts `bytes[range]`.
  static func endOfLeadingRun(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int {
    var i = range.lowerBound
    while i < range.upperBound {
      let (value, length) = UTF8Text.decodeScalar(bytes, i)
      guard isWhitespace(value) else { break }
      i += length
    }
    return i
  }

  static func isWhitespace(_ value: UInt32) -> Bool {
    UnicodeScalar(value)?.properties.isWhitespace ?? false
  }

}
