import Foundation
import Synchronization

// Ctrl-C. The SIGINT handler only bumps an atomic counter (async-signal-safe); long commands poll a
// `Cancellation` between images or steps and stop there, keeping what they finished. A command that
// never polls is not stuck for ever: the third Ctrl-C while it runs ends the process.

private let interruptCount = Atomic<Int>(0)
/// 1 while a command runs, 0 at the prompt: decides whether repeated Ctrl-C may end the process.
private let commandRunning = Atomic<Int>(0)

private func handleInterrupt(_ signal: Int32) {
  let count = interruptCount.add(1, ordering: .relaxed).newValue
  if commandRunning.load(ordering: .relaxed) == 1, count >= 3 {
    let message = "\nflr: interrupted three times, exiting\n"
    _ = message.withCString { write(2, $0, strlen($0)) }
    _exit(130)
  }
}

public enum Interrupt {
  /// Installs the handler. Without SA_RESTART, so that a blocking read (the line editor waiting for a
  /// key) returns and the prompt can clear its line.
  public static func install() {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = handleInterrupt
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    sigaction(SIGINT, &action, nil)
  }

  /// Whether Ctrl-C was pressed since the last `reset`.
  public static var pending: Bool { interruptCount.load(ordering: .relaxed) > 0 }

  public static func reset() { interruptCount.store(0, ordering: .relaxed) }

  /// Marks the span of one command (the third Ctrl-C inside it exits).
  static func commandStarted() { commandRunning.store(1, ordering: .relaxed) }
  static func commandFinished() { commandRunning.store(0, ordering: .relaxed) }

  /// Sends SIGINT to this process (tests).
  public static func simulate() { interruptCount.add(1, ordering: .relaxed) }
}

/// What long commands poll at their safe points. Engines below the shell take the closure form
/// (`{ cancellation.isCancelled }`) so that they need not know the shell.
public struct Cancellation: Sendable {
  public init() {}
  public var isCancelled: Bool { Interrupt.pending }
  /// Throws `ShellError.interrupted` if Ctrl-C was pressed.
  public func check() throws {
    if Interrupt.pending { throw ShellError.interrupted }
  }
}
