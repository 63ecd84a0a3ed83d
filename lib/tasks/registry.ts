// TaskRegistry: the named tasks a run can use — the built-in suite plus the user's own, registered
// from plain (e.g. YAML/JSON) objects and validated with errors that name the offending field.
import { builtinTaskDefinitions, type BuiltinOptions } from './builtin.js';
import { createTask, type Task, type TaskDefinition } from './task.js';

export interface TaskRegistryOptions extends BuiltinOptions {
  /** Start with the built-in suite (default true). */
  builtins?: boolean;
}

export class TaskRegistry {
  private readonly tasks = new Map<string, Task>();

  constructor(opts: TaskRegistryOptions = {}) {
    if (opts.builtins ?? true) {
      for (const def of builtinTaskDefinitions(opts)) this.add(createTask(def, 'TaskRegistry'), false);
    }
  }

  /**
   * Adds a task from a plain definition (see TaskDefinition) or replaces one when `replace` is true.
   * @throws TypeError on an invalid definition or a name already taken.
   */
  register(definition: TaskDefinition, opts: { replace?: boolean } = {}): Task {
    if (definition === null || typeof definition !== 'object' || Array.isArray(definition)) {
      throw new TypeError(`TaskRegistry.register: definition: expected a plain object, got ${definition === null ? 'null' : Array.isArray(definition) ? 'an array' : typeof definition}`);
    }
    const task = createTask(definition, 'TaskRegistry.register');
    this.add(task, opts.replace ?? false);
    return task;
  }

  private add(task: Task, replace: boolean): void {
    if (this.tasks.has(task.name) && !replace) {
      throw new TypeError(`TaskRegistry.register: a task named "${task.name}" already exists (pass { replace: true } to replace it)`);
    }
    this.tasks.set(task.name, task);
  }

  /** The task named `name`. @throws RangeError listing the known names when there is none. */
  get(name: string): Task {
    const t = this.tasks.get(name);
    if (t === undefined) throw new RangeError(`TaskRegistry.get: unknown task "${name}" (known: ${this.names().join(', ')})`);
    return t;
  }

  has(name: string): boolean {
    return this.tasks.has(name);
  }

  /** Task names in registration order. */
  names(): string[] {
    return [...this.tasks.keys()];
  }

  list(): Task[] {
    return [...this.tasks.values()];
  }

  /** Removes a task; returns whether it existed. */
  unregister(name: string): boolean {
    return this.tasks.delete(name);
  }
}
