export interface Prereq {
  cmd: string;
  args: string[];
  usedBy: string;
  install: string;
}
export declare const PREREQS: Prereq[];
export declare function missingPrereqs(prereqs?: Prereq[]): (Prereq & { why: string })[];
export declare function prereqMessage(missing: (Prereq & { why: string })[]): string;
