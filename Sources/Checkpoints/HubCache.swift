// Finds a model in the local Hugging Face cache exactly as huggingface_hub does (constants.py and
// snapshot_download with local_files_only): the cache is HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else
// HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub; a model ORG/NAME
// lives in models--ORG--NAME, whose refs/<revision> file holds the commit of snapshots/<commit>. A
// 40-hex revision is a commit already. flr never downloads: a missing model is an error that says how
// to fetch it.

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

public enum HubCache {
  /// The process environment (what huggingface_hub reads).
  public static var processEnvironment: [String: String] {
    var env: [String: String] = [:]
    var p = environ
    while let entry = p.pointee {
      let s = String(cString: entry)
      if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
      p += 1
    }
    return env
  }

  /// The hub cache folder, as huggingface_hub.constants.HF_HUB_CACHE computes it.
  public static func cacheFolder(environment env: [String: String] = processEnvironment) -> String {
    let defaultHome = joinPath(expandUser("~", env), ".cache")
    let hfHome = expandVariables(
      expandUser(env["HF_HOME"] ?? joinPath(env["XDG_CACHE_HOME"] ?? defaultHome, "huggingface"), env), env)
    let legacy = env["HUGGINGFACE_HUB_CACHE"] ?? joinPath(hfHome, "hub")
    return expandVariables(expandUser(env["HF_HUB_CACHE"] ?? legacy, env), env)
  }

  /// An existing folder or file path is returned as it is (after `~`); anything else is taken as a hub id
  /// (`ORG/NAME` or `NAME`) and resolved to its snapshot folder for `revision` (default "main": a branch,
  /// tag or commit). `CheckpointSet.open(path:)` takes either kind of result.
  public static func resolve(
    _ reference: String, revision: String? = nil, environment env: [String: String] = processEnvironment
  ) throws -> String {
    let path = expandUser(reference, env)
    if isDirectory(path) || isFile(path) { return path }
    let looksLikePath =
      reference.hasPrefix("/") || reference.hasPrefix("./") || reference.hasPrefix("../") || reference.hasPrefix("~")
      || reference == "." || reference == ".."
    guard !looksLikePath else { throw CheckpointError(file: path, "no such folder") }
    guard isValidRepoID(reference) else {
      throw CheckpointError(
        file: reference, "is neither a folder nor a Hugging Face model id such as microsoft/Florence-2-base-ft")
    }
    let revision = revision ?? "main"
    let cache = cacheFolder(environment: env)
    let repoFolder = joinPath(cache, "models--" + reference.split(separator: "/").joined(separator: "--"))
    let revisionFlag = revision == "main" ? "" : " --revision \(revision)"
    func notFound(_ looked: String, _ why: String) -> CheckpointError {
      CheckpointError(
        file: looked,
        "\(why), so \(reference) (revision \(revision)) is not in the local Hugging Face cache. Fetch it with"
          + " `huggingface-cli download \(reference)\(revisionFlag)` (or `hf download \(reference)\(revisionFlag)`);"
          + " flr never downloads anything itself.")
    }

    var commit: String
    if isCommitHash(revision) {
      commit = revision
    } else {
      guard !revision.isEmpty, !revision.hasPrefix("/"), !revision.split(separator: "/").contains("..") else {
        throw CheckpointError(file: reference, "invalid revision '\(revision)'")
      }
      let refFile = joinPath(joinPath(repoFolder, "refs"), revision)
      guard let text = readSmallFile(refFile) else {
        if !isDirectory(repoFolder) { throw notFound(repoFolder, "no such folder") }
        throw notFound(refFile, "no such file")
      }
      // huggingface_hub writes the hash with no newline; trailing whitespace from a hand edit is dropped.
      commit = String(text.filter { !$0.isWhitespace })
      guard isCommitHash(commit) else { throw CheckpointError(file: refFile, "does not hold a commit hash") }
    }
    let snapshot = joinPath(joinPath(repoFolder, "snapshots"), commit)
    guard isDirectory(snapshot) else { throw notFound(snapshot, "no such folder") }
    return snapshot
  }

  static func isCommitHash(_ s: String) -> Bool {
    s.utf8.count == 40 && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
  }

  /// huggingface_hub's validate_repo_id: `^(\b[\w\-.]+\b/)?\b[\w\-.]+\b$`, no "--" or "..", <= 96 chars.
  static func isValidRepoID(_ id: String) -> Bool {
    guard id.count <= 96, !id.contains("--"), !id.contains("..") else { return false }
    let parts = id.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 1 || parts.count == 2 else { return false }
    return parts.allSatisfy { part in
      // \b at both ends: the first and last characters are word characters.
      guard let first = part.first, let last = part.last else { return false }
      let word: (Character) -> Bool = { $0.isLetter || $0.isNumber || $0 == "_" }
      return word(first) && word(last) && part.allSatisfy { word($0) || $0 == "-" || $0 == "." }
    }
  }

  /// Python's os.path.join for two parts.
  static func joinPath(_ a: String, _ b: String) -> String {
    if b.hasPrefix("/") || a.isEmpty { return b }
    return a.hasSuffix("/") ? a + b : a + "/" + b
  }

  /// os.path.expanduser for `~` and `~/...` (HOME from the environment, as Python).
  static func expandUser(_ path: String, _ env: [String: String]) -> String {
    guard path == "~" || path.hasPrefix("~/") else { return path }
    var home = env["HOME"] ?? ""
    if home.isEmpty, let pw = getpwuid(getuid()), let dir = pw.pointee.pw_dir { home = String(cString: dir) }
    if home.hasSuffix("/") && home.count > 1 { home.removeLast() }
    return home + path.dropFirst()
  }

  /// os.path.expandvars: `$NAME` and `${NAME}` of set variables are replaced, others left as written.
  static func expandVariables(_ path: String, _ env: [String: String]) -> String {
    guard path.contains("$") else { return path }
    var out = ""
    var i = path.startIndex
    let isName: (Character) -> Bool = { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    while i < path.endIndex {
      let c = path[i]
      guard c == "$" else {
        out.append(c)
        i = path.index(after: i)
        continue
      }
      let next = path.index(after: i)
      var nameStart = next
      var nameEnd = next
      var after = next
      if next < path.endIndex, path[next] == "{" {
        nameStart = path.index(after: next)
        guard let close = path[nameStart...].firstIndex(of: "}") else {
          out += path[i...]
          break
        }
        nameEnd = close
        after = path.index(after: close)
      } else {
        while nameEnd < path.endIndex, isName(path[nameEnd]) { nameEnd = path.index(after: nameEnd) }
        after = nameEnd
      }
      let name = String(path[nameStart..<nameEnd])
      if !name.isEmpty, let value = env[name] { out += value } else { out += path[i..<after] }
      if after == next {  // a lone '$'
        i = next
      } else {
        i = after
      }
    }
    return out
  }
}

func isDirectory(_ path: String) -> Bool {
  var info = stat()
  return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
}

func isFile(_ path: String) -> Bool {
  var info = stat()
  return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
}

/// A small text file's contents, or nil when it cannot be read.
func readSmallFile(_ path: String) -> String? {
  guard isFile(path), let file = try? MappedFile(path: path), file.size <= 4096,
    let bytes = file.bytes(at: 0, count: file.size)
  else { return nil }
  return String(decoding: bytes, as: UTF8.self)
}
