import type { SceneName } from '@storevision/contracts';
import type { SceneDefinition } from '../scene.ts';
import { aisle } from './aisle.ts';
import { checkout } from './checkout.ts';
import { entrance } from './entrance.ts';

export const scenes: Record<SceneName, SceneDefinition> = { entrance, aisle, checkout };
export const sceneNames = Object.keys(scenes) as SceneName[];
