import CEdit
import FlrCheckpoints
import FlrTokenizer
import Foundation

// Tab completion, from the command declarations: command names first; then the command's option
// names (`beams=`, flags bare), positional paths, choices or adapter names; after `key=` the option's values
// (paths, choices, task tokens, adapter names). The word under the cursor is read as the shell's lexer reads
// it (`sp\ ace/`, `"sp ace/`), and what is inserted is escaped the same way, so the line still means the file.
// `candidates` and `completion` are pure so they are tested without a terminal.

enum Completion {
  /// The session whose state completion may consult (set by the REPL).
  nonisolated(unsafe) static var session: Session?
  nonisolated(unsafe) private static var pending: [String] = []
  nonisolated(unsafe) private static var pendingIndex = 0

  /// Candidates for `word`, the text being completed (unquoted), given the line up to the start of `word`.
  static func candidates(before: String, word: String, session: Session? = Completion.session) -> [String] {
    let statement = before.split(separator: ";", omittingEmptySubsequences: false).last.map(String.init) ?? before
    let words = statement.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    guard let name = words.first else {
      return Registry.allNames.filter { $0.hasPrefix(word) }.sorted()
    }
    // After `key=`: the lexer-level `=` is a word break, so `before` ends with it.
    if statement.hasSuffix("="), let key = words.last.map({ String($0.dropLast()) }) {
      return values(for: key, command: name, word: word, session: session)
    }
    guard let command = Registry.find(name) else { return [] }
    if command.name == "help" { return Registry.allNames.filter { $0.hasPrefix(word) }.sorted() }
    var result: [String] = []
    let options = command.name == "set" ? settableOptions() : command.options
    for option in options where option.name.hasPrefix(word) {
      result.append(option.type.isFlag ? option.name : option.name + "=")
    }
    if command.name == "load" { result += cachedModels().filter { $0.hasPrefix(word) } }
    if let positionals = command.positionals {
      if positionals.namesAdapters {
        result += adapterNames(session, base: command.name == "use" ? "none" : nil).filter { $0.hasPrefix(word) }
      }
      switch positionals.type {
      case .path: result += paths(matching: word)
      case .choice(let words): result += words.filter { $0.hasPrefix(word) }
      case .string where command.name == "save": result += paths(matching: word)
      default: break
      }
    }
    return result
  }

  /// What replaces the word under the cursor, for the line up to the cursor: where that word starts (in
  /// Unicode scalars) and the escaped replacements; `finished` is false for those the user goes on typing
  /// (`key=`, a folder).
  static func completion(line: String, session: Session? = Completion.session) -> (
    start: Int, replacements: [(text: String, finished: Bool)]
  ) {
    let word = CompletionWord(line)
    let scalars = Array(line.unicodeScalars)
    let before = String(String.UnicodeScalarView(scalars[..<word.start]))
    let found = candidates(before: before, word: word.text, session: session)
    return (word.start, found.map { word.escaped($0) })
  }

  /// Hub ids in the local Hugging Face cache (`models--microsoft--Florence-2-base-ft`).
  static func cachedModels() -> [String] {
    let folders = (try? FileManager.default.contentsOfDirectory(atPath: HubCache.cacheFolder())) ?? []
    return folders.filter { $0.hasPrefix("models--") }.map {
      $0.dropFirst("models--".count).replacingOccurrences(of: "--", with: "/")
    }.sorted()
  }

  private static func settableOptions() -> [OptionSpec] {
    var seen = Set<String>()
    return Registry.commands.flatMap(\.options).filter { $0.settable && seen.insert($0.name).inserted }
  }

  /// The resident adapters' names (and `base` for lists that take it).
  private static func adapterNames(_ session: Session?, base: String?) -> [String] {
    let names = session?.model?.adapters.all.map(\.name) ?? []
    return (base.map { [$0] } ?? []) + names
  }

  private static func values(for key: String, command name: String, word: String, session: Session?) -> [String] {
    let option = Registry.find(name)?.option(key) ?? Registry.declarations(of: key).first?.option
    if option?.namesAdapters == true {
      // A comma-separated list: complete its last item.
      let done = word.lastIndex(of: ",").map { String(word[...$0]) } ?? ""
      let last = String(word.dropFirst(done.count))
      return adapterNames(session, base: "base").filter { $0.hasPrefix(last) }.map { done + $0 }
    }
    switch option?.type {
    case .path?: return paths(matching: word)
    case .choice(let words)?: return words.filter { $0.hasPrefix(word) }
    case .flag?: return ["true", "false"].filter { $0.hasPrefix(word) }
    case .custom(let hint, _)? where hint == "<TASK>":
      return FlorenceTask.allCases.map(\.rawValue).filter { $0.hasPrefix(word) }
    default: return []
    }
  }

  /// Files and folders starting with `word` (folders end in `/`); hidden ones only when asked for.
  static func paths(matching word: String) -> [String] {
    let expanded = expandTilde(word)
    let slash = expanded.lastIndex(of: "/")
    let folder = slash.map { String(expanded[...$0]) } ?? ""
    let prefix = slash.map { String(expanded[expanded.index(after: $0)...]) } ?? expanded
    let written = slash.map { _ in String(word[...(word.lastIndex(of: "/") ?? word.startIndex)]) } ?? ""
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder) else {
      return []
    }
    return entries.filter { $0.hasPrefix(prefix) && (prefix.hasPrefix(".") || !$0.hasPrefix(".")) }.sorted().map {
      var isDirectory: ObjCBool = false
      _ = FileManager.default.fileExists(atPath: folder + $0, isDirectory: &isDirectory)
      return written + $0 + (isDirectory.boolValue ? "/" : "")
    }
  }

  /// Hooks into libedit.
  static func install() {
    let breaks = UnsafePointer(strdup(" \t\n\"';="))
    rl_basic_word_break_characters = breaks
    rl_completer_word_break_characters = UnsafeMutablePointer(mutating: breaks)
    rl_attempted_completion_function = { text, start, end in
      rl_attempted_completion_over = 1
      guard let buffer = rl_line_buffer else { return nil }
      // libedit counts in characters; its word may start elsewhere than the lexer's (at an escaped blank).
      let scalars = Array(String(cString: buffer).unicodeScalars)
      let cursor = min(Int(end), scalars.count), libeditStart = min(Int(start), cursor)
      let line = String(String.UnicodeScalarView(scalars[..<cursor]))
      let (wordStart, replacements) = Completion.completion(line: line)
      let between = String(
        String.UnicodeScalarView(scalars[min(wordStart, libeditStart)..<max(wordStart, libeditStart)]))
      let aligned = replacements.compactMap { item -> (text: String, finished: Bool)? in
        if wordStart >= libeditStart { return (between + item.text, item.finished) }
        return item.text.hasPrefix(between) ? (String(item.text.dropFirst(between.count)), item.finished) : nil
      }
      Completion.pending = aligned.map(\.text)
      Completion.pendingIndex = 0
      guard !aligned.isEmpty else { return nil }
      // A space after a finished word; none after `key=` or a folder, so the user can go on typing.
      rl_completion_append_character = aligned.count == 1 && aligned[0].finished ? 32 : 0
      return rl_completion_matches(text) { _, state in
        if state == 0 { Completion.pendingIndex = 0 }
        guard Completion.pendingIndex < Completion.pending.count else { return nil }
        defer { Completion.pendingIndex += 1 }
        return strdup(Completion.pending[Completion.pendingIndex])
      }
    }
  }
}

/// The word under the cursor as the lexer reads it: where it starts in the line (after `key=` for a value), its
/// text with quotes and escapes removed, and the quote left open, if any.
struct CompletionWord {
  /// In Unicode scalars from the start of the line.
  private(set) var start = 0
  private(set) var text = ""
  private(set) var openQuote: Character?
  /// After `key=`: `=` in a value is ordinary.
  private(set) var isValue = false

  init(_ line: String) {
    var keyCandidate = ""
    var quotedSoFar = false
    var escaping = false
    var position = 0
    func reset(at next: Int) {
      start = next
      text = ""
      keyCandidate = ""
      quotedSoFar = false
      isValue = false
    }
    for scalar in line.unicodeScalars {
      let character = Character(scalar)
      position += 1
      if escaping {
        escaping = false
        text.append(character)
        quotedSoFar = true
        continue
      }
      switch openQuote {
      case "'"?:
        if character == "'" { openQuote = nil } else { text.append(character) }
        continue
      case "\""?:
        if character == "\"" {
          openQuote = nil
        } else if character == "\\" {
          escaping = true
        } else {
          text.append(character)
        }
        continue
      default: break
      }
      switch character {
      case " ", "\t", "\n", ";": reset(at: position)
      case "\\": escaping = true
      case "'", "\"":
        openQuote = character
        quotedSoFar = true
      case "=" where !isValue && !quotedSoFar && Lexer.isIdentifier(keyCandidate):
        // The value is the word from here on; `before` ends with `key=`.
        start = position
        text = ""
        isValue = true
      default:
        text.append(character)
        if !isValue { keyCandidate.append(character) }
      }
    }
  }

  /// `candidate` written so that the lexer reads it back: inside the quote the user opened, or with backslashes;
  /// a finished word closes its quote.
  func escaped(_ candidate: String) -> (text: String, finished: Bool) {
    let finished = !(candidate.hasSuffix("/") || candidate.hasSuffix("="))
    switch openQuote {
    case "'"?:
      let body = candidate.replacingOccurrences(of: "'", with: "'\\''")
      return ("'" + body + (finished ? "'" : ""), finished)
    case "\""?:
      var body = ""
      for character in candidate {
        if "\"\\$".contains(character) { body.append("\\") }
        body.append(character)
      }
      return ("\"" + body + (finished ? "\"" : ""), finished)
    default:
      // An option name's `=` is the option's; in a value or a path it is escaped (a positional `a=b` would be read
      // as an option).
      let special = " \t\n;#'\"\\$" + (isValue ? "" : "=")
      var body = ""
      for (index, character) in candidate.enumerated() {
        let isOptionEquals = character == "=" && index == candidate.count - 1 && !isValue
        if special.contains(character) && !isOptionEquals { body.append("\\") }
        body.append(character)
      }
      return (body, finished)
    }
  }
}
