// A min-heap of (due time, id): which queued message is next. Entries are never updated
// in place; a new due time is pushed again and the caller skips stale pops. Pure.

export interface Due {
  due: number;
  id: string;
}

export class DueHeap {
  private readonly items: Due[] = [];

  get size(): number {
    return this.items.length;
  }

  push(item: Due): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((a[parent] as Due).due <= item.due) break;
      a[i] = a[parent] as Due;
      i = parent;
    }
    a[i] = item;
  }

  peek(): Due | undefined {
    return this.items[0];
  }

  pop(): Due | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      let best = last.due;
      if (l < a.length && (a[l] as Due).due < best) (min = l), (best = (a[l] as Due).due);
      if (r < a.length && (a[r] as Due).due < best) min = r;
      if (min === i) break;
      a[i] = a[min] as Due;
      i = min;
    }
    a[i] = last;
    return top;
  }
}
