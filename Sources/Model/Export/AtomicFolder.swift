// A folder written as one unit: its files are built in a temporary folder beside the destination (same file
// system), fsync'ed, and only then put in place by rename. A crash or error while building leaves the old
// folder as it was (and at most a `.NAME.tmp-…` folder beside it). Replacing an existing folder uses Linux's
// renameat2(RENAME_EXCHANGE) when the C library has it, so the destination always holds the old or the new
// contents; elsewhere two renames (a crash between them leaves the old contents as `.NAME.tmp-…`). Such leftovers
// of a process that is gone (killed mid-save) are removed by the next write into the same parent folder.
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

public enum AtomicFolder {
  /// What to do when the destination already exists.
  public enum Existing {
    /// Refuse with `message` (nothing is written).
    case refuse(message: String)
    /// Replace it whole.
    case replace
    /// Replace the entries the new folder writes and drop `dropping`; every other entry of the old folder is
    /// carried over (files hard-linked, subfolders moved), so a run folder's logs and checkpoints survive.
    case replaceEntries(dropping: Set<String>)
  }

  /// Builds the folder at `destination` through `build(temporaryPath)` and puts it in place.
  public static func write(_ destination: String, existing: Existing, build: (String) throws -> Void) throws {
    var path = destination
    while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
    let url = URL(fileURLWithPath: path)
    let parent = url.deletingLastPathComponent().path, name = url.lastPathComponent
    let fm = FileManager.default
    var isFolder: ObjCBool = false
    let exists = fm.fileExists(atPath: path, isDirectory: &isFolder)
    if exists && !isFolder.boolValue { throw FolderError(path, "exists and is not a folder") }
    if exists, case .refuse(let message) = existing { throw FolderError(path, message) }
    do { try fm.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
      throw FolderError(parent, "cannot create the folder (\(error.localizedDescription))")
    }
    removeAbandonedTemporaries(in: parent)
    let temporary = parent + "/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    guard mkdir(temporary, 0o755) == 0 else { throw FolderError(temporary, "cannot create: \(errnoText())") }
    var moved: [String] = []  // subfolders carried from the old folder into the new one
    do {
      try build(temporary)
      if exists, case .replaceEntries(let dropping) = existing {
        let written = Set(try fm.contentsOfDirectory(atPath: temporary)).union(dropping)
        for entry in try fm.contentsOfDirectory(atPath: path) where !written.contains(entry) {
          let from = path + "/" + entry, to = temporary + "/" + entry
          var sub: ObjCBool = false
          _ = fm.fileExists(atPath: from, isDirectory: &sub)
          let attributes = try? fm.attributesOfItem(atPath: from)
          if attributes?[.type] as? FileAttributeType == .typeSymbolicLink {
            try fm.createSymbolicLink(atPath: to, withDestinationPath: fm.destinationOfSymbolicLink(atPath: from))
          } else if sub.boolValue {
            moved.append(entry)  // moved last, just before the swap
          } else if link(from, to) != 0 {
            try fm.copyItem(atPath: from, toPath: to)
          }
        }
      }
      syncFolder(temporary)
      for entry in moved {
        guard rename(path + "/" + entry, temporary + "/" + entry) == 0 else {
          throw FolderError(path + "/" + entry, "cannot move into the new folder: \(errnoText())")
        }
      }
      if !exists {
        guard rename(temporary, path) == 0 else { throw FolderError(path, "cannot rename into place: \(errnoText())") }
      } else if !exchange(temporary, path) {
        // No atomic exchange: old -> aside, new -> in place.
        let aside = temporary + "-old"
        guard rename(path, aside) == 0 else { throw FolderError(path, "cannot move aside: \(errnoText())") }
        guard rename(temporary, path) == 0 else {
          let error = FolderError(path, "cannot rename into place: \(errnoText())")
          rename(aside, path)
          throw error
        }
        try? fm.removeItem(atPath: aside)
      } else {
        try? fm.removeItem(atPath: temporary)  // now the old contents
      }
      syncFolder(parent)
    } catch {
      for entry in moved where fm.fileExists(atPath: temporary + "/" + entry) {
        rename(temporary + "/" + entry, path + "/" + entry)  // give the old folder its subfolders back
      }
      try? fm.removeItem(atPath: temporary)
      throw error
    }
  }

  /// Removes the `.NAME.tmp-PID-N` (and `…-old`) folders in `parent` whose process PID no longer exists. A folder
  /// whose process is alive (this one included) is left alone: it may be in the middle of a save.
  public static func removeAbandonedTemporaries(in parent: String) {
    let fm = FileManager.default
    guard let entries = try? fm.contentsOfDirectory(atPath: parent) else { return }
    for entry in entries where entry.hasPrefix(".") {
      guard let marker = entry.range(of: ".tmp-", options: .backwards) else { continue }
      let fields = entry[marker.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
      guard fields.count == 2 || (fields.count == 3 && fields[2] == "old"), let pid = Int32(fields[0]), pid > 0,
        UInt32(fields[1]) != nil
      else { continue }
      var isFolder: ObjCBool = false
      guard fm.fileExists(atPath: parent + "/" + entry, isDirectory: &isFolder), isFolder.boolValue else { continue }
      if kill(pid, 0) == 0 || errno != ESRCH { continue }  // alive (EPERM: another user's live process)
      try? fm.removeItem(atPath: parent + "/" + entry)
    }
  }

  /// Copies the file at `source` (following symlinks) to `destination`, fsync'ed.
  public static func copyFile(_ source: String, to destination: String) throws {
    guard let data = FileManager.default.contents(atPath: source) else {
      throw FolderError(source, "cannot read")
    }
    try writeFile(data, to: destination)
  }

  /// Writes `data` to a new file at `path` and fsyncs it.
  public static func writeFile(_ data: Data, to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FolderError(path, "cannot create: \(errnoText())") }
    defer { close(fd) }
    try data.withUnsafeBytes { raw in
      var done = 0
      while done < raw.count {
        let n = posixWrite(fd, raw.baseAddress! + done, raw.count - done)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw FolderError(path, "write failed: \(errnoText())") }
        done += n
      }
    }
    guard fsync(fd) == 0 else { throw FolderError(path, "fsync failed: \(errnoText())") }
  }

  static func syncFolder(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd >= 0 {
      fsync(fd)
      close(fd)
    }
  }

  /// renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE), looked up at run time (glibc 2.28+); false when the
  /// C library or the file system lacks it.
  static func exchange(_ a: String, _ b: String) -> Bool {
    typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "renameat2") else { return false }
    let renameat2 = unsafeBitCast(symbol, to: RenameAt2.self)
    let atFDCWD: Int32 = -100, renameExchange: UInt32 = 2
    return renameat2(atFDCWD, a, atFDCWD, b, renameExchange) == 0
  }

  static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// A folder-level write problem, naming the path.
public struct FolderError: Error, CustomStringConvertible, Equatable {
  public let path: String, message: String
  public init(_ path: String, _ message: String) {
    self.path = path
    self.message = message
  }
  public var description: String { "\(path): \(message)" }
}

/// The C `write` (a static `write` elsewhere would shadow it).
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
