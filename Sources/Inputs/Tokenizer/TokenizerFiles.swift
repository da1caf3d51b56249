// Reading a model folder's tokenizer: `tokenizer.json` (the `tokenizers` library's format), or the older
// `vocab.json` + `merges.txt` pair. Only what BART's tokenizer uses is accepted (BPE model, no normalizer,
// ByteLevel pre-tokenizer without prefix space, RoBERTa post-processor, ByteLevel decoder); anything else
// is refused with an error naming the file and the field, rather than tokenized differently.
import Foundation

/// A tokenizer file that cannot be used, with the file and the problem.
public struct TokenizerError: Error, CustomStringConvertible, Equatable {
  public let file: String
  public let problem: String
  public init(file: String, problem: String) {
    self.file = file
    self.problem = problem
  }
  public var description: String { "\(file): \(problem)" }
}

/// The parts of a tokenizer file set, before the Florence tokens are added.
struct TokenizerDefinition {
  /// BPE vocabulary: token string (byte-level alphabet) -> id.
  var vocab: [String: Int]
  /// Merge pairs in rank order.
  var merges: [(String, String)]
  /// Added tokens as the file lists them (special tokens of the base tokenizer).
  var addedTokens: [AddedToken]
  /// RoBERTa post-processor: `<s>` (cls) and `</s>` (sep) with their ids.
  var cls: (String, Int)
  var sep: (String, Int)
  /// The file these came from, for error messages.
  var file: String
}

/// One entry of the added vocabulary (tokenizers' `AddedToken`).
struct AddedToken: Equatable {
  var id: Int
  var content: String
  var special: Bool
  var lstrip: Bool
  var rstrip: Bool
  var normalized: Bool
}

enum TokenizerFiles {
  /// Reads `tokenizer.json` if the folder has one, else `vocab.json` + `merges.txt`.
  static func load(folder: URL) throws -> TokenizerDefinition {
    let json = folder.appendingPathComponent("tokenizer.json")
    if FileManager.default.fileExists(atPath: json.path) { return try loadTokenizerJSON(json) }
    let vocab = folder.appendingPathComponent("vocab.json")
    let merges = folder.appendingPathComponent("merges.txt")
    guard FileManager.default.fileExists(atPath: vocab.path), FileManager.default.fileExists(atPath: merges.path)
    else {
      throw TokenizerError(
        file: folder.path, problem: "no tokenizer.json, and no vocab.json + merges.txt pair either")
    }
    return try loadVocabAndMerges(vocab: vocab, merges: merges)
  }

  static func loadTokenizerJSON(_ url: URL) throws -> TokenizerDefinition {
    let file = url.path
    func fail(_ problem: String) -> TokenizerError { TokenizerError(file: file, problem: problem) }
    let root = try decode(TokenizerJSON.self, url)
    let model = root.model

    if let type = model.type, type != "BPE" { throw fail("model type \(type) is not BPE") }
    if model.dropout != nil { throw fail("BPE dropout is not supported") }
    for (key, value) in [
      ("continuing_subword_prefix", model.continuing_subword_prefix),
      ("end_of_word_suffix", model.end_of_word_suffix),
    ] where !(value ?? "").isEmpty {
      throw fail("BPE \(key) \"\(value ?? "")\" is not supported")
    }
    if model.byte_fallback == true { throw fail("BPE byte_fallback=true is not supported") }
    if model.ignore_merges == true { throw fail("BPE ignore_merges=true is not supported") }
    for (token, id) in model.vocab where id < 0 { throw fail("model.vocab[\"\(token)\"] is negative") }
    var merges: [(String, String)] = []
    merges.reserveCapacity(model.merges.count)
    for (i, entry) in model.merges.enumerated() {
      guard let pair = entry.pair else { throw fail("model.merges[\(i)] is neither \"a b\" nor [\"a\", \"b\"]") }
      merges.append(pair)
    }

    if root.normalizer != nil { throw fail("a normalizer is not supported") }
    guard let pre = root.pre_tokenizer, pre.type == "ByteLevel" else { throw fail("pre_tokenizer must be ByteLevel") }
    if pre.add_prefix_space == true { throw fail("ByteLevel add_prefix_space=true is not supported") }
    if pre.use_regex == false { throw fail("ByteLevel use_regex=false is not supported") }
    if let decoder = root.decoder, decoder.type != "ByteLevel" { throw fail("decoder must be ByteLevel") }

    var addedTokens: [AddedToken] = []
    for t in root.added_tokens ?? [] {
      if t.single_word == true { throw fail("added token \(t.content): single_word is not supported") }
      addedTokens.append(
        AddedToken(
          id: t.id, content: t.content, special: t.special ?? false, lstrip: t.lstrip ?? false,
          rstrip: t.rstrip ?? false, normalized: t.normalized ?? true))
    }

    guard let post = root.post_processor, post.type == "RobertaProcessing", let cls = post.cls, let sep = post.sep
    else { throw fail("post_processor must be RobertaProcessing with cls and sep") }
    return TokenizerDefinition(
      vocab: model.vocab, merges: merges, addedTokens: addedTokens, cls: (cls.token, cls.id), sep: (sep.token, sep.id),
      file: file)
  }

  /// vocab.json + merges.txt, with the special tokens transformers' BartTokenizer registers
  /// (`<mask>` strips the whitespace before it), as in the tokenizer.json converted from them.
  static func loadVocabAndMerges(vocab vocabURL: URL, merges mergesURL: URL) throws -> TokenizerDefinition {
    let vocab = try decode([String: Int].self, vocabURL)
    for (token, id) in vocab where id < 0 {
      throw TokenizerError(file: vocabURL.path, problem: "entry \"\(token)\" has a negative id")
    }
    guard let data = FileManager.default.contents(atPath: mergesURL.path),
      let text = String(data: data, encoding: .utf8)
    else { throw TokenizerError(file: mergesURL.path, problem: "cannot be read as UTF-8 text") }
    var merges: [(String, String)] = []
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    for (i, raw) in lines.enumerated() {
      let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
      if line.hasPrefix("#version") || (line.isEmpty && i == lines.count - 1) { continue }
      guard let pair = splitMerge(String(line)) else {
        throw TokenizerError(file: mergesURL.path, problem: "line \(i + 1) is not two tokens separated by one space")
      }
      merges.append(pair)
    }
    var added: [AddedToken] = []
    var ids: [String: Int] = [:]
    for name in ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] {
      guard let id = vocab[name] else {
        throw TokenizerError(file: vocabURL.path, problem: "special token \(name) is missing")
      }
      ids[name] = id
      added.append(
        AddedToken(id: id, content: name, special: true, lstrip: name == "<mask>", rstrip: false, normalized: true))
    }
    return TokenizerDefinition(
      vocab: vocab, merges: merges, addedTokens: added, cls: ("<s>", ids["<s>", default: 0]),
      sep: ("</s>", ids["</s>", default: 2]), file: vocabURL.path)
  }

  /// "a b" -> ("a", "b"); exactly one space, as the tokenizers library requires.
  static func splitMerge(_ line: String) -> (String, String)? {
    let parts = line.split(separator: " ", omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
    return (String(parts[0]), String(parts[1]))
  }

  /// JSONDecoder rather than JSONSerialization: the latter drops a U+FEFF that starts a string.
  private static func decode<T: Decodable>(_ type: T.Type, _ url: URL) throws -> T {
    guard let data = FileManager.default.contents(atPath: url.path) else {
      throw TokenizerError(file: url.path, problem: "cannot be read")
    }
    do {
      return try JSONDecoder().decode(type, from: data)
    } catch let error as DecodingError {
      throw TokenizerError(file: url.path, problem: "is not valid JSON of the expected layout (\(describe(error)))")
    } catch {
      throw TokenizerError(file: url.path, problem: "is not valid JSON (\(error))")
    }
  }

  private static func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
      let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
      return (p.isEmpty ? "" : p + ": ") + context.debugDescription
    }
    switch error {
    case .dataCorrupted(let c): return path(c)
    case .keyNotFound(let key, let c): return path(c) + " missing \"\(key.stringValue)\""
    case .typeMismatch(_, let c), .valueNotFound(_, let c): return path(c)
    @unknown default: return "\(error)"
    }
  }
}

/// The fields of tokenizer.json that matter here (the library's serialization; other fields ignored).
private struct TokenizerJSON: Decodable {
  struct Model: Decodable {
    let type: String?
    let dropout: Double?
    let continuing_subword_prefix: String?
    let end_of_word_suffix: String?
    let byte_fallback: Bool?
    let ignore_merges: Bool?
    let vocab: [String: Int]
    let merges: [Merge]
  }
  /// "a b" (older files) or ["a", "b"] (newer ones).
  struct Merge: Decodable {
    let pair: (String, String)?
    init(from decoder: Decoder) throws {
      let c = try decoder.singleValueContainer()
      if let line = try? c.decode(String.self) {
        pair = TokenizerFiles.splitMerge(line)
      } else if let parts = try? c.decode([String].self), parts.count == 2 {
        pair = (parts[0], parts[1])
      } else {
        pair = nil
      }
    }
  }
  struct Typed: Decodable {
    let type: String?
    let add_prefix_space: Bool?
    let use_regex: Bool?
    let cls: SpecialToken?
    let sep: SpecialToken?
  }
  /// ["<s>", 0]
  struct SpecialToken: Decodable {
    let token: String
    let id: Int
    init(from decoder: Decoder) throws {
      var c = try decoder.unkeyedContainer()
      token = try c.decode(String.self)
      id = try c.decode(Int.self)
    }
  }
  struct Added: Decodable {
    let id: Int
    let content: String
    let special: Bool?
    let lstrip: Bool?
    let rstrip: Bool?
    let normalized: Bool?
    let single_word: Bool?
  }
  let model: Model
  let normalizer: Typed?
  let pre_tokenizer: Typed?
  let post_processor: Typed?
  let decoder: Typed?
  let added_tokens: [Added]?
}
