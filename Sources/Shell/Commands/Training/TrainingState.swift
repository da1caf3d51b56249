import FlrModel
import FlrTrain
import Foundation

// What `dataset` and `train` keep resident in a session: the dataset and the trainer of the last run (its
// adapter, optimizer state and position, for `train resume`). Kept in a side table keyed by the session
// object so the Session type need not know training exists (one stored property there would do the same).

final class TrainingState: @unchecked Sendable {
  var dataset: CaptionDataset?
  var trainer: Trainer?

  private static let lock = NSLock()
  nonisolated(unsafe) private static var table: [ObjectIdentifier: (session: WeakSession, state: TrainingState)] = [:]

  struct WeakSession { weak var value: Session? }

  static func of(_ session: Session) -> TrainingState {
    lock.lock()
    defer { lock.unlock() }
    let key = ObjectIdentifier(session)
    if let entry = table[key], entry.session.value === session { return entry.state }
    table = table.filter { $0.value.session.value != nil }
    let state = TrainingState()
    table[key] = (WeakSession(value: session), state)
    return state
  }

  static func requireDataset(_ session: Session, for command: String) throws -> CaptionDataset {
    guard let dataset = of(session).dataset else {
      throw ShellError("\(command): no dataset loaded (dataset DIR)")
    }
    return dataset
  }
}

extension Session {
  func requireModel(for command: String) throws -> LoadedModel {
    guard let model else { throw ShellError("\(command): no model loaded (load MODEL)") }
    return model
  }
}
