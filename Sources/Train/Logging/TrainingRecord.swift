// What the trainer logs each step, and the error every log writer throws.
import Foundation

/// One logged training step. `epoch` may be fractional (step / steps per epoch); `time` is Unix time in seconds.
public struct TrainingRecord: Sendable, Equatable {
  public var step: Int
  public var epoch: Double
  public var loss: Double
  public var lr: Double
  public var time: Double
  /// More scalars of the same step, written after lr (ProdigyPlusScheduleFree: `lr/d*lr-groupN`).
  public var scalars: [TrainingScalar] = []

  public init(step: Int, epoch: Double, loss: Double, lr: Double, time: Double = Date().timeIntervalSince1970) {
    self.step = step
    self.epoch = epoch
    self.loss = loss
    self.lr = lr
    self.time = time
  }
}

/// A named value logged beside the loss (`loss/val`, `lr/d*lr-group0`): a TensorBoard tag, a JSONL key.
public struct TrainingScalar: Sendable, Equatable {
  public var tag: String
  public var value: Double
  public init(_ tag: String, _ value: Double) {
    self.tag = tag
    self.value = value
  }
}

/// A destination for training records (`log=jsonl`, `log=tensorboard`).
public protocol TrainingLog: AnyObject {
  /// The file being written.
  var file: URL { get }
  func write(_ record: TrainingRecord) throws
  /// Values logged apart from a step's record (the validation loss), at `step`.
  func write(scalars: [TrainingScalar], step: Int, epoch: Double, time: Double) throws
  func close()
}

public struct LogError: Error, CustomStringConvertible, Equatable {
  public let file: String
  public let problem: String
  public init(file: String, problem: String) {
    self.file = file
    self.problem = problem
  }
  public var description: String { "\(file): \(problem)" }
}

/// An append-only file written with one `write` call per record, so every record reaches the OS at once
/// (a crash or Ctrl-C loses nothing already logged). Not fsynced: that would cost a disk flush per step.
final class AppendOnlyFile {
  let url: URL
  private var handle: FileHandle?

  init(creating url: URL) throws {
    self.url = url
    let fm = FileManager.default
    do {
      try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    } catch {
      throw LogError(
        file: url.deletingLastPathComponent().path, problem: "cannot create folder (\(error.localizedDescription))")
    }
    if !fm.fileExists(atPath: url.path) {
      guard fm.createFile(atPath: url.path, contents: nil) else {
        throw LogError(file: url.path, problem: "cannot create file (folder not writable?)")
      }
    }
    do {
      let h = try FileHandle(forWritingTo: url)
      try h.seekToEnd()
      handle = h
    } catch {
      throw LogError(file: url.path, problem: "cannot open for writing (\(error.localizedDescription))")
    }
  }

  func write(_ bytes: [UInt8]) throws {
    guard let handle else { throw LogError(file: url.path, problem: "log already closed") }
    do { try handle.write(contentsOf: Data(bytes)) } catch {
      throw LogError(file: url.path, problem: "write failed (\(error.localizedDescription))")
    }
  }

  func close() {
    try? handle?.close()
    handle = nil
  }

  deinit { close() }
}
